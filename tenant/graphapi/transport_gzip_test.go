package graphapi

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	khttp "github.com/microsoft/kiota-http-go"
)

// sentPipeline records what reaches the next middleware and answers with status.
type sentPipeline struct {
	status   int
	bodies   [][]byte
	encoding []string
	lengths  []int64
}

func (p *sentPipeline) Next(req *http.Request, _ int) (*http.Response, error) {
	b, _ := io.ReadAll(req.Body)
	p.bodies = append(p.bodies, b)
	p.encoding = append(p.encoding, req.Header.Get("Content-Encoding"))
	p.lengths = append(p.lengths, req.ContentLength)
	status := p.status
	p.status = http.StatusOK
	return &http.Response{StatusCode: status, Body: io.NopCloser(strings.NewReader(""))}, nil
}

func newBodyRequest(t *testing.T, body string) *http.Request {
	req, err := http.NewRequest(http.MethodPost, "https://graph.example/v1.0/$batch", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Body = khttp.NopCloser(strings.NewReader(body))
	return req
}

// gzipHandler must put on the wire exactly what kiota's CompressionHandler does, request
// after request (its writers are reused), and fall back the same way after a 415.
func TestGzipHandlerMatchesKiota(t *testing.T) {
	ours, theirs := &gzipHandler{}, khttp.NewCompressionHandler()
	for i, body := range []string{`{"requests":[]}`, strings.Repeat(`{"id":"1","method":"GET","url":"/users"},`, 500), "x"} {
		a, b := &sentPipeline{status: 200}, &sentPipeline{status: 200}
		if _, err := ours.Intercept(a, 0, newBodyRequest(t, body)); err != nil {
			t.Fatal(err)
		}
		if _, err := theirs.Intercept(b, 0, newBodyRequest(t, body)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.bodies[0], b.bodies[0]) || a.encoding[0] != "gzip" || a.lengths[0] != b.lengths[0] {
			t.Fatalf("body %d: ours %d bytes (%q, length %d), kiota's %d bytes (%q, length %d)", i,
				len(a.bodies[0]), a.encoding[0], a.lengths[0], len(b.bodies[0]), b.encoding[0], b.lengths[0])
		}
	}
	p := &sentPipeline{status: http.StatusUnsupportedMediaType}
	if _, err := ours.Intercept(p, 0, newBodyRequest(t, "plain")); err != nil {
		t.Fatal(err)
	}
	if len(p.bodies) != 2 || string(p.bodies[1]) != "plain" || p.encoding[1] != "" {
		t.Fatalf("after a 415: %q %q", p.bodies, p.encoding)
	}
	// Already encoded bodies go as they are.
	req := newBodyRequest(t, "raw")
	req.Header.Set("Content-Encoding", "br")
	p = &sentPipeline{status: 200}
	if _, err := ours.Intercept(p, 0, req); err != nil || string(p.bodies[0]) != "raw" {
		t.Fatalf("encoded body: %q, %v", p.bodies, err)
	}
}
