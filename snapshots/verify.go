package snapshots

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strings"
)

// Damage is one problem verify found.
type Damage struct {
	Snapshot int64  `json:"snapshot"`
	Kind     string `json:"kind"`
	ID       string `json:"id"`
	Problem  string `json:"problem"`
}

// String reads as one sentence naming the object and the problem.
func (d Damage) String() string {
	if d.ID == "" {
		return fmt.Sprintf("snapshot %d: %s", d.Snapshot, d.Problem)
	}
	return fmt.Sprintf("snapshot %d: %s %s: %s", d.Snapshot, d.Kind, d.ID, d.Problem)
}

// VerifyReport is what verify checked and what it found.
type VerifyReport struct {
	Snapshots []int64  `json:"snapshots"`
	Objects   int      `json:"objects_checked"`
	Links     int      `json:"links_checked"`
	Damage    []Damage `json:"damage"`
}

// OK reports whether nothing was damaged.
func (r VerifyReport) OK() bool { return len(r.Damage) == 0 }

// Verify recomputes every object hash and the root hash of each given snapshot (every
// snapshot when ids is empty) and reports each damaged object by name. It reads only.
func (s *Store) Verify(ctx context.Context, ids []int64) (VerifyReport, error) {
	var rep VerifyReport
	var problems []string
	rows, err := s.r.QueryContext(ctx, "PRAGMA quick_check")
	if err != nil {
		return rep, fmt.Errorf("%s cannot be checked: %w", s.path, err)
	}
	for rows.Next() {
		var text string
		if err := rows.Scan(&text); err == nil && text != "ok" {
			// One row may hold several lines ("*** in database main ***\n...").
			for _, line := range strings.Split(text, "\n") {
				if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "***") {
					problems = append(problems, line)
				}
			}
		}
	}
	rows.Close()
	if len(problems) > 0 {
		rep.Damage = append(rep.Damage, Damage{Problem: fmt.Sprintf("the SQLite file itself is damaged: %d problems in its pages, the first: %s", len(problems), problems[0])})
	}
	// Once SQLite finds the file malformed, what cannot be read is damage to report,
	// not an error that would hide the report.
	unreadable := func(err error) (VerifyReport, error) {
		if IsDamaged(err) {
			rep.Damage = append(rep.Damage, Damage{Problem: "the rest of the file cannot be read: SQLite finds it malformed; restore the file from a copy"})
			return rep, nil
		}
		return rep, err
	}
	if len(ids) == 0 {
		snaps, err := s.Snapshots(ctx)
		if err != nil {
			return unreadable(err)
		}
		for _, snap := range snaps {
			ids = append(ids, snap.ID)
		}
	}
	// A stored version and the hash it is checked against -> its problem ("" when
	// intact). Keyed by the blob too: a capture that found a stored copy damaged
	// stores a fresh one under the same hash, and the older snapshot's damage must not
	// be reported of the newer one's intact copy.
	checked := map[checkedKey]string{}
	for _, id := range ids {
		if err := s.verifySnapshot(ctx, id, checked, &rep); err != nil {
			return unreadable(err)
		}
		rep.Snapshots = append(rep.Snapshots, id)
	}
	return rep, nil
}

// checkedKey is a version verify checked: its blob and the hash it must have.
type checkedKey struct {
	blob int64
	hash Hash
}

func (s *Store) verifySnapshot(ctx context.Context, id int64, checked map[checkedKey]string, rep *VerifyReport) error {
	var stored string
	err := s.r.QueryRowContext(ctx, "SELECT root_hash FROM snapshots WHERE id = ?", id).Scan(&stored)
	if err == sql.ErrNoRows {
		return fmt.Errorf("snapshot %d is not in %s: %w", id, s.path, ErrNoSnapshot)
	}
	if err != nil {
		return fmt.Errorf("cannot read snapshot %d: %w", id, err)
	}
	objLines, linkLines := sha256.New(), sha256.New()
	rows, err := s.r.QueryContext(ctx, `SELECT o.kind, o.id, o.hash, o.in_bin, o.blob, b.data FROM objects o LEFT JOIN blobs b ON b.id = o.blob
		WHERE `+inSnapshot+` ORDER BY o.kind, o.id`, id)
	if err != nil {
		return fmt.Errorf("cannot read snapshot %d: %w", id, err)
	}
	var line []byte
	for rows.Next() {
		var kind, oid string
		var hash, data []byte
		var inBin int
		var blob int64
		if err := rows.Scan(&kind, &oid, &hash, &inBin, &blob, &data); err != nil {
			rows.Close()
			return err
		}
		rep.Objects++
		var h Hash
		copy(h[:], hash)
		key := checkedKey{blob, h}
		problem, seen := checked[key]
		if !seen {
			switch {
			case len(hash) != len(h):
				problem = "its manifest entry has a malformed hash"
			case data == nil:
				problem = "its content is missing from the file"
			default:
				doc, err := resolveBlob(ctx, s.r, &s.dicts, data)
				if err != nil && ctx.Err() != nil {
					rows.Close()
					return ctx.Err() // interrupted: not damage
				}
				if err != nil || sha256.Sum256(doc) != h {
					problem = "its content does not match its hash (tampered or corrupted)"
				}
			}
			checked[key] = problem
		}
		if problem != "" {
			rep.Damage = append(rep.Damage, Damage{Snapshot: id, Kind: kind, ID: oid, Problem: problem})
		}
		line = appendObjectLine(line[:0], kind, oid, hash, inBin == 1)
		objLines.Write(line)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	err = s.holderLinks(ctx, id, func(links []Link) error {
		for _, l := range links {
			rep.Links++
			line = appendLinkLine(line[:0], &l)
			linkLines.Write(line)
		}
		return nil
	})
	if err != nil {
		rep.Damage = append(rep.Damage, Damage{Snapshot: id, Problem: "its links cannot be read: " + err.Error()})
		return nil
	}
	if got := rootOf(objLines.Sum(nil), linkLines.Sum(nil)); got != stored {
		rep.Damage = append(rep.Damage, Damage{Snapshot: id, Problem: fmt.Sprintf("its root hash is %s but its manifest and links hash to %s: objects or links were added, removed or altered", short(stored), short(got))})
	}
	return nil
}

// appendObjectLine appends an object's manifest line as the root hash reads it (see
// rootOf).
func appendObjectLine(dst []byte, kind, id string, hash []byte, inBin bool) []byte {
	dst = append(dst, "o\t"...)
	dst = append(dst, kind...)
	dst = append(dst, '\t')
	dst = append(dst, id...)
	dst = append(dst, '\t')
	dst = hex.AppendEncode(dst, hash)
	return append(dst, '\t', byte('0'+boolInt(inBin)), '\n')
}

// appendLinkLine appends a link's line as the root hash reads it (see rootOf).
func appendLinkLine(dst []byte, l *Link) []byte {
	dst = append(dst, "l\t"...)
	dst = append(append(dst, l.Kind...), '\t')
	dst = append(append(dst, l.From...), '\t')
	dst = append(append(dst, l.Name...), '\t')
	dst = append(append(dst, l.To...), '\t')
	return append(append(dst, l.ToKind...), '\n')
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
