package graphapi

import (
	"bytes"
	"context"
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
	// Already encoded bodies, upload slices and requests that opt out go as they are,
	// as kiota sends them.
	for name, prepare := range map[string]func(*http.Request) *http.Request{
		"encoded": func(r *http.Request) *http.Request { r.Header.Set("Content-Encoding", "br"); return r },
		"byte range": func(r *http.Request) *http.Request {
			r.Header.Set("Content-Range", "bytes 0-2/3")
			return r
		},
		"opted out": func(r *http.Request) *http.Request {
			return r.WithContext(context.WithValue(r.Context(), compressOption, khttp.NewCompressionOptions(false)))
		},
	} {
		a, b := &sentPipeline{status: 200}, &sentPipeline{status: 200}
		if _, err := ours.Intercept(a, 0, prepare(newBodyRequest(t, "raw"))); err != nil || string(a.bodies[0]) != "raw" {
			t.Fatalf("%s: ours sent %q, %v", name, a.bodies, err)
		}
		if _, err := theirs.Intercept(b, 0, prepare(newBodyRequest(t, "raw"))); err != nil || string(b.bodies[0]) != "raw" {
			t.Fatalf("%s: kiota sent %q, %v (the test no longer matches kiota)", name, b.bodies, err)
		}
	}
}

// TestPipelineCompressesWithGzipHandler: the client's pipeline holds the reused-writer
// gzip handler in kiota's CompressionHandler's place, and not kiota's.
func TestPipelineCompressesWithGzipHandler(t *testing.T) {
	t.Parallel()
	ours := 0
	for _, m := range graphMiddlewares() {
		switch m.(type) {
		case *gzipHandler:
			ours++
		case *khttp.CompressionHandler:
			t.Fatal("kiota's CompressionHandler is still in the pipeline")
		}
	}
	if ours != 1 {
		t.Fatalf("%d gzip handlers in the pipeline, want 1", ours)
	}
}
