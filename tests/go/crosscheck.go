// Independent cross-check of ai-audit's checkpoints and proofs with Go's
// golang.org/x/mod/sumdb/note and golang.org/x/mod/sumdb/tlog (not written by this project).
//
// Usage: go run crosscheck.go VERIFIER_KEY NOTE_FILE PROOFS_FILE
// PROOFS_FILE lines: "inclusion SIZE ROOT_B64 INDEX LEAF_B64 PROOF_B64...",
//                    "consistency NEW_SIZE NEW_ROOT_B64 OLD_SIZE OLD_ROOT_B64 PROOF_B64..." or
//                    "tlogproof PATH LEAF_B64" (a C2SP tlog-proof file: its note is opened with
//                    the same verifier and the inclusion proof checked against its checkpoint).
// Prints "OK <n> notes, <i> inclusion, <c> consistency" and exits 0, or prints the first failure
// and exits 1.
package main

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func fail(format string, a ...interface{}) {
	fmt.Printf("FAIL: "+format+"\n", a...)
	os.Exit(1)
}

func hash(s string) tlog.Hash {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != 32 {
		fail("bad hash %q", s)
	}
	var h tlog.Hash
	copy(h[:], b)
	return h
}

func main() {
	if len(os.Args) != 4 {
		fail("usage: crosscheck VERIFIER_KEY NOTE_FILE PROOFS_FILE")
	}
	v, err := note.NewVerifier(os.Args[1])
	if err != nil {
		fail("verifier key: %v", err)
	}
	msg, err := os.ReadFile(os.Args[2])
	if err != nil {
		fail("%v", err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		fail("note.Open: %v", err)
	}
	// Exactly origin, size and root, each ending in a newline: ai-audit writes no extension
	// lines (a line more would be text the log did not mean to sign).
	lines := strings.Split(n.Text, "\n")
	if len(lines) != 4 || lines[3] != "" {
		fail("checkpoint body has %d lines, want exactly 3", len(lines)-1)
	}
	f, err := os.Open(os.Args[3])
	if err != nil {
		fail("%v", err)
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	inc, con, tp := 0, 0, 0
	for sc.Scan() {
		w := strings.Fields(sc.Text())
		if len(w) == 3 && w[0] == "tlogproof" {
			checkTlogProof(w[1], hash(w[2]), v)
			tp++
			continue
		}
		if len(w) < 5 {
			continue
		}
		size, _ := strconv.ParseInt(w[1], 10, 64)
		root := hash(w[2])
		x, _ := strconv.ParseInt(w[3], 10, 64)
		y := hash(w[4])
		var p []tlog.Hash
		for _, s := range w[5:] {
			p = append(p, hash(s))
		}
		switch w[0] {
		case "inclusion":
			if err := tlog.CheckRecord(tlog.RecordProof(p), size, root, x, y); err != nil {
				fail("inclusion of %d in %d: %v", x, size, err)
			}
			inc++
		case "consistency":
			if err := tlog.CheckTree(tlog.TreeProof(p), size, root, x, y); err != nil {
				fail("consistency %d -> %d: %v", x, size, err)
			}
			con++
		}
	}
	fmt.Printf("OK 1 notes (%s, size %s), %d inclusion, %d consistency, %d tlog-proofs\n", lines[0], lines[1], inc, con, tp)
}

// checkTlogProof parses a c2sp.org/tlog-proof@v1 file independently of ai-audit's parser.
func checkTlogProof(path string, leaf tlog.Hash, v note.Verifier) {
	data, err := os.ReadFile(path)
	if err != nil {
		fail("%v", err)
	}
	head, rest, ok := strings.Cut(string(data), "\n\n")
	if !ok {
		fail("%s: no empty line before the checkpoint", path)
	}
	hl := strings.Split(head, "\n")
	if hl[0] != "c2sp.org/tlog-proof@v1" {
		fail("%s: bad header %q", path, hl[0])
	}
	hl = hl[1:]
	if len(hl) > 0 && strings.HasPrefix(hl[0], "extra ") {
		if _, err := base64.StdEncoding.DecodeString(hl[0][6:]); err != nil {
			fail("%s: extra is not base64", path)
		}
		hl = hl[1:]
	}
	if len(hl) == 0 || !strings.HasPrefix(hl[0], "index ") {
		fail("%s: no index line", path)
	}
	index, err := strconv.ParseInt(hl[0][6:], 10, 64)
	if err != nil {
		fail("%s: bad index", path)
	}
	var p []tlog.Hash
	for _, s := range hl[1:] {
		p = append(p, hash(s))
	}
	n, err := note.Open([]byte(rest), note.VerifierList(v))
	if err != nil {
		fail("%s: note.Open: %v", path, err)
	}
	body := strings.Split(n.Text, "\n")
	size, err := strconv.ParseInt(body[1], 10, 64)
	if err != nil {
		fail("%s: bad checkpoint size", path)
	}
	if err := tlog.CheckRecord(tlog.RecordProof(p), size, hash(body[2]), index, leaf); err != nil {
		fail("%s: inclusion of %d in %d: %v", path, index, size, err)
	}
}
