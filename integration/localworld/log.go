package localworld

import (
	"bytes"
	"io"
	"sync"
)

// Log is a concurrency-safe buffer that collects the output of a child process. Tests read
// it (Since, String) and may tee it to another writer (every line of every process of a run,
// for the secret leak check).
type Log struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	tees []io.Writer
}

// NewLog returns an empty log that also copies everything it gets to the tees.
func NewLog(tees ...io.Writer) *Log {
	return &Log{tees: tees}
}

// Write appends p; it never fails.
func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for _, t := range l.tees {
		_, _ = t.Write(p)
	}
	return len(p), nil
}

// Len is the number of bytes collected so far: a mark for Since.
func (l *Log) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Len()
}

// Since returns what was collected after the mark.
func (l *Log) Since(mark int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buf.Bytes()
	if mark > len(b) {
		mark = len(b)
	}
	return string(b[mark:])
}

// String returns everything collected.
func (l *Log) String() string { return l.Since(0) }
