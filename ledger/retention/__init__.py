"""The archive's lifecycle (issue 12): retention classes, the plan of what is due, the run that
destroys it, and the certificate that proves the run."""
