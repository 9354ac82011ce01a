package deploy_test

// The guide's shell blocks, read as commands: the guide's run (docs_test.go, on moto) and the
// checks that need no AWS (capabilities_test.go) read them alike.

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

// shellCommand is one command of a ```sh block: its lines (continuations kept), and its tag.
type shellCommand struct {
	text string
	line int // in the markdown
	moto bool
	aws  bool // [AWS only]
}

// shellBlocks reads the ```sh blocks of a markdown file as commands, continuation lines joined.
func shellBlocks(t *testing.T, file string) [][]shellCommand {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks [][]shellCommand
	var cur []shellCommand
	in := false
	var pending strings.Builder
	start := 0
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case !in && strings.HasPrefix(trimmed, "```sh"):
			in, cur = true, nil
			continue
		case in && trimmed == "```":
			in = false
			blocks = append(blocks, cur)
			continue
		case !in:
			continue
		}
		if pending.Len() == 0 {
			start = n
		}
		pending.WriteString(line + "\n")
		code := stripComment(line)
		if strings.HasSuffix(strings.TrimSpace(code), "\\") || openQuote(pending.String()) {
			continue // the command goes on
		}
		text := pending.String()
		pending.Reset()
		if strings.TrimSpace(stripComment(text)) == "" {
			continue
		}
		cur = append(cur, shellCommand{text: text, line: start,
			moto: strings.Contains(text, "[moto]"), aws: strings.Contains(text, "[AWS only]")})
	}
	return blocks
}

// stripComment drops a trailing "# ..." comment outside quotes from a line.
func stripComment(line string) string {
	inS, inD := false, false
	for i, r := range line {
		switch {
		case r == '\'' && !inD:
			inS = !inS
		case r == '"' && !inS:
			inD = !inD
		case r == '#' && !inS && !inD && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
			return line[:i]
		}
	}
	return line
}

// openQuote reports whether a command so far has a single-quoted string still open.
func openQuote(s string) bool {
	inS, inD := false, false
	for _, r := range stripCommentsAll(s) {
		switch {
		case r == '\'' && !inD:
			inS = !inS
		case r == '"' && !inS:
			inD = !inD
		}
	}
	return inS
}

func stripCommentsAll(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		b.WriteString(stripComment(l) + "\n")
	}
	return b.String()
}

func itoa(n int) string { return strconv.Itoa(n) }
