package engine

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lifelinehq/lifeline/tenant/graphapi"
)

func TestDaysLeft(t *testing.T) {
	t.Parallel()
	del := time.Date(2026, 11, 1, 10, 0, 0, 500_000_000, time.UTC)
	purge := del.Add(Retention)
	for _, c := range []struct {
		now  time.Time
		want int
	}{
		{del.Truncate(time.Second), 30},
		{del.Add(time.Hour), 30},
		{del.Add(24*time.Hour + time.Second), 29},
		{del.Add(10 * 24 * time.Hour), 20},
		{purge.Add(-time.Minute), 1},
		{purge, 0},
		{purge.Add(48 * time.Hour), 0},
	} {
		if got := DaysLeft(purge, c.now); got != c.want {
			t.Errorf("DaysLeft at %s = %d, want %d", c.now.Sub(del), got, c.want)
		}
	}
}

// A recycle bin row without an id could be neither named nor restored: the answer is
// refused rather than shown as a row of nothing.
func TestRecycleBinRefusesARowWithoutAnID(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/organization"):
			w.Write([]byte(`{"value":[{"id":"tenant-1","displayName":"Contoso"}]}`))
		case strings.Contains(r.URL.Path, "/directory/deletedItems/"):
			w.Write([]byte(`{"value":[{"id":null,"displayName":"Nobody","deletedDateTime":"2026-11-01T00:00:00Z"}]}`))
		default:
			w.Write([]byte(`{"value":[]}`))
		}
	}))
	t.Cleanup(srv.Close)
	c, err := graphapi.New(context.Background(), graphapi.Config{GraphURL: srv.URL + "/v1.0", Credential: drillToken{}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = RecycleBin(context.Background(), c, nil)
	if err == nil || !strings.Contains(err.Error(), "without an id") {
		t.Fatalf("a bin row without an id: %v", err)
	}
}
