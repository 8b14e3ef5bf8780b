package engine

import (
	"testing"
	"time"
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
