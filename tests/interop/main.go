// Command temoin-interop is an independent oracle for Témoin's tests: it exposes
// Go's reference implementations of signed notes (golang.org/x/mod/sumdb/note)
// and RFC 6962 Merkle proofs (golang.org/x/mod/sumdb/tlog) as JSON filters, so
// the Python code is checked against code it shares nothing with.
//
// Usage: temoin-interop SUBCOMMAND < request.json > response.json
//
// It is built in GOPATH mode against Debian's golang-golang-x-mod-dev sources
// (see tests/interop/go_tool.py), so it needs no network and no go.mod.
//
// A verdict (a note or proof that does not verify) is reported in the JSON with
// exit status 0; only a bad invocation or an unreadable request exits non-zero,
// so that the test driver can tell "Go rejected it" from "the oracle broke".
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type noteVerifyReq struct {
	VKey string `json:"vkey"`
	Note string `json:"note"`
}

type noteVerifyResp struct {
	OK    bool   `json:"ok"`
	Body  string `json:"body"`
	Error string `json:"error"`
	// Kind classifies the rejection so tests can compare it with the Python
	// error class: "malformed", "unverified", "invalid_signature", "bad_vkey".
	Kind string `json:"kind"`
}

type noteSignReq struct {
	SKey string `json:"skey"`
	Body string `json:"body"`
}

type noteSignResp struct {
	Note  string `json:"note"`
	Error string `json:"error"`
}

type inclusionReq struct {
	Index    int64    `json:"index"`
	Size     int64    `json:"size"`
	LeafHash string   `json:"leaf_hash"`
	Root     string   `json:"root"`
	Proof    []string `json:"proof"`
}

type consistencyReq struct {
	Size1 int64    `json:"size1"`
	Size2 int64    `json:"size2"`
	Root1 string   `json:"root1"`
	Root2 string   `json:"root2"`
	Proof []string `json:"proof"`
}

type verdictResp struct {
	OK    bool   `json:"ok"`
	Error string `json:"error"`
}

type keygenReq struct {
	Name string `json:"name"`
	// Seed is an optional hex Ed25519 seed (32 bytes), making the key
	// deterministic for golden tests.
	Seed string `json:"seed"`
}

type keygenResp struct {
	SKey  string `json:"skey"`
	VKey  string `json:"vkey"`
	Error string `json:"error"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: temoin-interop note-verify|note-sign|tlog-inclusion|tlog-consistency|keygen|cosigned-open < request.json")
		os.Exit(2)
	}
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail("reading stdin: %v", err)
	}
	var out interface{}
	switch os.Args[1] {
	case "note-verify":
		var req noteVerifyReq
		decode(input, &req)
		out = noteVerify(req)
	case "note-sign":
		var req noteSignReq
		decode(input, &req)
		out = noteSign(req)
	case "tlog-inclusion":
		var req inclusionReq
		decode(input, &req)
		out = inclusion(req)
	case "tlog-consistency":
		var req consistencyReq
		decode(input, &req)
		out = consistency(req)
	case "keygen":
		var req keygenReq
		decode(input, &req)
		out = keygen(req)
	case "cosigned-open":
		var req cosignedOpenReq
		decode(input, &req)
		out = cosignedOpen(req)
	default:
		fail("unknown subcommand %q", os.Args[1])
	}
	enc := json.NewEncoder(os.Stdout)
	// Keep "—" and "+" literal in the output: escaping is harmless for JSON
	// readers but makes failures harder to read.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		fail("writing response: %v", err)
	}
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "temoin-interop: "+format+"\n", args...)
	os.Exit(1)
}

func decode(input []byte, v interface{}) {
	dec := json.NewDecoder(bytes.NewReader(input))
	// Unknown fields mean the driver and the oracle disagree on the protocol.
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		fail("bad request JSON: %v", err)
	}
}

func noteVerify(req noteVerifyReq) noteVerifyResp {
	v, err := note.NewVerifier(req.VKey)
	if err != nil {
		return noteVerifyResp{Error: err.Error(), Kind: "bad_vkey"}
	}
	// JSON strings cannot carry invalid UTF-8, so the Python side sends the
	// note as text; non-UTF-8 cases are tested on the Python side only.
	n, err := note.Open([]byte(req.Note), note.VerifierList(v))
	if err != nil {
		kind := "malformed"
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unverified):
			kind = "unverified"
		case errors.As(err, &invalid):
			kind = "invalid_signature"
		}
		return noteVerifyResp{Error: err.Error(), Kind: kind}
	}
	return noteVerifyResp{OK: true, Body: n.Text}
}

func noteSign(req noteSignReq) noteSignResp {
	s, err := note.NewSigner(req.SKey)
	if err != nil {
		return noteSignResp{Error: err.Error()}
	}
	msg, err := note.Sign(&note.Note{Text: req.Body}, s)
	if err != nil {
		return noteSignResp{Error: err.Error()}
	}
	return noteSignResp{Note: string(msg)}
}

func parseHash(s string) (tlog.Hash, error) {
	var h tlog.Hash
	b, err := hex.DecodeString(s)
	if err != nil {
		return h, fmt.Errorf("hash %q: %v", s, err)
	}
	if len(b) != tlog.HashSize {
		return h, fmt.Errorf("hash %q: %d bytes, want %d", s, len(b), tlog.HashSize)
	}
	copy(h[:], b)
	return h, nil
}

func parseHashes(ss []string) ([]tlog.Hash, error) {
	hs := make([]tlog.Hash, 0, len(ss))
	for _, s := range ss {
		h, err := parseHash(s)
		if err != nil {
			return nil, err
		}
		hs = append(hs, h)
	}
	return hs, nil
}

func verdict(err error) verdictResp {
	if err != nil {
		return verdictResp{Error: err.Error()}
	}
	return verdictResp{OK: true}
}

func inclusion(req inclusionReq) verdictResp {
	leaf, err := parseHash(req.LeafHash)
	if err != nil {
		return verdict(err)
	}
	root, err := parseHash(req.Root)
	if err != nil {
		return verdict(err)
	}
	proof, err := parseHashes(req.Proof)
	if err != nil {
		return verdict(err)
	}
	return verdict(tlog.CheckRecord(tlog.RecordProof(proof), req.Size, root, req.Index, leaf))
}

func consistency(req consistencyReq) verdictResp {
	root1, err := parseHash(req.Root1)
	if err != nil {
		return verdict(err)
	}
	root2, err := parseHash(req.Root2)
	if err != nil {
		return verdict(err)
	}
	proof, err := parseHashes(req.Proof)
	if err != nil {
		return verdict(err)
	}
	return verdict(tlog.CheckTree(tlog.TreeProof(proof), req.Size2, root2, req.Size1, root1))
}

func keygen(req keygenReq) keygenResp {
	var r io.Reader = rand.Reader
	if req.Seed != "" {
		seed, err := hex.DecodeString(req.Seed)
		if err != nil || len(seed) != 32 {
			return keygenResp{Error: fmt.Sprintf("seed must be 64 hex digits, got %q", req.Seed)}
		}
		// ed25519.GenerateKey reads exactly the 32-byte seed from its reader,
		// so a fixed reader yields a fixed key.
		r = bytes.NewReader(seed)
	}
	skey, vkey, err := note.GenerateKey(r, req.Name)
	if err != nil {
		return keygenResp{Error: err.Error()}
	}
	return keygenResp{SKey: skey, VKey: vkey}
}

// cosigned-open: note.Open with the log's key and C2SP cosignature/v1 witness keys.
// The cosignature verifier is written here from https://c2sp.org/tlog-cosignature
// (key id over 0x04, message "cosignature/v1\ntime T\n" + note text, signature =
// 8-byte big-endian T || Ed25519), sharing nothing with the Python implementation;
// note.Open does the signed-note framing, key matching and the rule that lines by
// unknown keys are ignored.

type cosignedOpenReq struct {
	LogVKey      string   `json:"log_vkey"`
	WitnessVKeys []string `json:"witness_vkeys"`
	Note         string   `json:"note"`
}

type cosigner struct {
	Name string `json:"name"`
	Time uint64 `json:"time"`
}

type cosignedOpenResp struct {
	OK         bool       `json:"ok"`
	Body       string     `json:"body"`
	Verified   []cosigner `json:"verified"`
	Unverified []string   `json:"unverified"`
	Error      string     `json:"error"`
}

type cosigVerifier struct {
	name string
	hash uint32
	key  ed25519.PublicKey
	// the time of the last verified signature (note.Open calls Verify then records the sig)
	times map[string]uint64
}

func (v *cosigVerifier) Name() string    { return v.name }
func (v *cosigVerifier) KeyHash() uint32 { return v.hash }
func (v *cosigVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig[:8])
	signed := append([]byte(fmt.Sprintf("cosignature/v1\ntime %d\n", t)), msg...)
	if !ed25519.Verify(v.key, signed, sig[8:]) {
		return false
	}
	v.times[string(sig)] = t
	return true
}

func newCosigVerifier(vkey string) (*cosigVerifier, error) {
	parts := bytes.SplitN([]byte(vkey), []byte("+"), 3)
	if len(parts) != 3 {
		return nil, fmt.Errorf("malformed witness vkey %q", vkey)
	}
	raw, err := base64.StdEncoding.DecodeString(string(parts[2]))
	if err != nil || len(raw) != 1+ed25519.PublicKeySize || raw[0] != 0x04 {
		return nil, fmt.Errorf("witness vkey %q: want base64(0x04 || 32-byte key)", vkey)
	}
	name := string(parts[0])
	h := sha256.Sum256(append(append([]byte(name+"\n"), 0x04), raw[1:]...))
	hash := binary.BigEndian.Uint32(h[:4])
	if fmt.Sprintf("%08x", hash) != string(parts[1]) {
		return nil, fmt.Errorf("witness vkey %q: key id %s, computed %08x", vkey, parts[1], hash)
	}
	return &cosigVerifier{name: name, hash: hash, key: ed25519.PublicKey(raw[1:]),
		times: map[string]uint64{}}, nil
}

func cosignedOpen(req cosignedOpenReq) cosignedOpenResp {
	logV, err := note.NewVerifier(req.LogVKey)
	if err != nil {
		return cosignedOpenResp{Error: err.Error()}
	}
	verifiers := []note.Verifier{logV}
	var witnesses []*cosigVerifier
	for _, vk := range req.WitnessVKeys {
		w, err := newCosigVerifier(vk)
		if err != nil {
			return cosignedOpenResp{Error: err.Error()}
		}
		witnesses = append(witnesses, w)
		verifiers = append(verifiers, w)
	}
	n, err := note.Open([]byte(req.Note), note.VerifierList(verifiers...))
	if err != nil {
		return cosignedOpenResp{Error: err.Error()}
	}
	resp := cosignedOpenResp{OK: true, Body: n.Text, Verified: []cosigner{}, Unverified: []string{}}
	for _, sig := range n.Sigs {
		if sig.Name == logV.Name() && sig.Hash == logV.KeyHash() {
			resp.Verified = append(resp.Verified, cosigner{Name: sig.Name})
			continue
		}
		raw, _ := base64.StdEncoding.DecodeString(sig.Base64)
		for _, w := range witnesses {
			if w.name == sig.Name && w.hash == sig.Hash {
				resp.Verified = append(resp.Verified, cosigner{Name: sig.Name, Time: w.times[string(raw[4:])]})
			}
		}
	}
	for _, sig := range n.UnverifiedSigs {
		resp.Unverified = append(resp.Unverified, sig.Name)
	}
	return resp
}
