package tui

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/lifelinehq/lifeline/entra"
)

// naive is the filter's definition, row by row.
func naive(rows []objRow, q query) []int32 {
	var out []int32
	for i, r := range rows {
		hit := strings.Contains(strings.ToLower(r.name), q.text) || strings.Contains(strings.ToLower(r.id), q.text)
		if hit != q.invert {
			out = append(out, int32(i))
		}
	}
	return out
}

func TestFilterMatchesDefinition(t *testing.T) {
	t.Parallel()
	// Enough rows for the parallel path, with mixed case and non-ASCII names.
	rows := make([]objRow, 120_003)
	for i := range rows {
		name := fmt.Sprintf("User %d Dept-%d", i, i%13)
		if i%7 == 0 {
			name = fmt.Sprintf("ÉLODIE Straße %d", i)
		}
		rows[i] = newObjRow(entra.KindUser, fmt.Sprintf("ID-%06x", i), name, false)
	}
	set := newRowSet(rows)
	for _, text := range []string{"1", "user 12", "dept-3", "élodie", "strasse", "straße", "id-00ff", "9 d", "zzz", "!1", "!élodie", "!dept"} {
		q := parseQuery(text)
		got := filterRows(set, nil, q)
		if want := naive(rows, q); !slices.Equal(got, want) {
			t.Errorf("%q: %d rows, want %d", text, len(got), len(want))
		}
	}
	// Narrowing: filtering an earlier result equals filtering everything.
	var tb table
	tb.setRows(set)
	tb.setSize(80, 20)
	for _, text := range []string{"u", "us", "user 1", "user 12", "user 1", "!1", "!12", "!1"} {
		q := parseQuery(text)
		tb.setView(q, tb.filterFunc(q)())
		var got []int32
		for i := range tb.len() {
			got = append(got, int32(slices.IndexFunc(rows, func(r objRow) bool { return r.id == tb.at(i).id })))
			if i > 3 {
				break
			}
		}
		want := naive(rows, q)
		if tb.len() != len(want) || !slices.Equal(got, want[:len(got)]) {
			t.Errorf("after typing %q: %d rows, want %d", text, tb.len(), len(want))
		}
	}
}

func TestQueryParsing(t *testing.T) {
	t.Parallel()
	if q := parseQuery("!Ab\ncd"); !q.invert || q.text != "abcd" {
		t.Errorf("parse: %+v", q)
	}
	if !parseQuery("abc").narrows(parseQuery("ab")) || parseQuery("ab").narrows(parseQuery("abc")) {
		t.Error("a longer text narrows a shorter one, not the reverse")
	}
	if !parseQuery("!ab").narrows(parseQuery("!abc")) || parseQuery("!abc").narrows(parseQuery("!ab")) {
		t.Error("an inverted shorter text narrows an inverted longer one")
	}
	if parseQuery("ab").narrows(parseQuery("")) || parseQuery("!a").narrows(parseQuery("a")) {
		t.Error("no narrowing from an empty filter or across inversion")
	}
}
