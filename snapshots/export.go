package snapshots

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/lifelinehq/lifeline/entra"
)

// ExportFormat names the folder format Export writes and Import reads.
const ExportFormat = "lifeline-snapshot/1"

// Manifest is manifest.json at the root of an exported snapshot folder.
type Manifest struct {
	Format    string         `json:"format"`
	TenantID  string         `json:"tenant_id"`
	TakenAt   time.Time      `json:"taken_at"`
	Label     string         `json:"label"`
	GraphURL  string         `json:"graph_url"`
	RootHash  string         `json:"root_hash"`
	Counts    map[string]int `json:"counts"`
	BinCounts map[string]int `json:"bin_counts"`
	Objects   int            `json:"objects"`
	Links     int            `json:"links"`
}

// exportedObject is one file of an exported folder: <kind>/<id>.json.
type exportedObject struct {
	Kind   entra.Kind                `json:"kind"`
	ID     string                    `json:"id"`
	InBin  bool                      `json:"in_bin"`
	SHA256 string                    `json:"sha256"`
	Object json.RawMessage           `json:"object"`
	Links  map[string][]exportedLink `json:"links,omitempty"`
}

type exportedLink struct {
	Kind entra.Kind `json:"kind"`
	ID   string     `json:"id"`
}

// Export writes snapshot snap to dir as one JSON file per object (sorted keys, stable
// paths <kind>/<id>.json, the object's links inside it) plus manifest.json, so that a
// snapshot can live in git and diff cleanly. dir must not exist or be empty; the folder
// is written under a temporary name and renamed into place, so a failed export leaves
// nothing half-written.
func (s *Store) Export(ctx context.Context, snap int64, dir string) (Manifest, error) {
	var m Manifest
	info, err := s.snapshotByID(ctx, snap)
	if err != nil {
		return m, err
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return m, fmt.Errorf("%s is not empty; export into a new folder so nothing of yours is overwritten", dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return m, fmt.Errorf("cannot use %s: %w", dir, err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(dir)), "."+filepath.Base(dir)+".partial-")
	if err != nil {
		return m, fmt.Errorf("cannot write next to %s: %w", dir, err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()

	links := map[string]map[string][]exportedLink{} // "kind\x00id" -> name -> targets
	if err := s.Links(ctx, snap, func(l Link) error {
		key := string(l.Kind) + "\x00" + l.From
		if links[key] == nil {
			links[key] = map[string][]exportedLink{}
		}
		links[key][l.Name] = append(links[key][l.Name], exportedLink{Kind: l.ToKind, ID: l.To})
		m.Links++
		return nil
	}); err != nil {
		return m, err
	}
	made := map[entra.Kind]bool{}
	err = s.Objects(ctx, snap, "", func(o Object) error {
		if !made[o.Kind] {
			if err := os.Mkdir(filepath.Join(tmp, string(o.Kind)), 0o755); err != nil {
				return err
			}
			made[o.Kind] = true
		}
		e := exportedObject{Kind: o.Kind, ID: o.ID, InBin: o.InBin, SHA256: o.Hash.String(), Object: o.JSON, Links: links[string(o.Kind)+"\x00"+o.ID]}
		for _, targets := range e.Links {
			sort.Slice(targets, func(i, j int) bool { return targets[i].ID < targets[j].ID })
		}
		b, err := indentJSON(e)
		if err != nil {
			return err
		}
		m.Objects++
		return os.WriteFile(filepath.Join(tmp, string(o.Kind), fileName(o.ID)), b, 0o644)
	})
	if err != nil {
		return m, fmt.Errorf("export of snapshot %d failed: %w", snap, err)
	}
	m = Manifest{Format: ExportFormat, TenantID: info.TenantID, TakenAt: info.TakenAt, Label: info.Label, GraphURL: info.GraphURL,
		RootHash: info.RootHash, Counts: info.Counts, BinCounts: info.BinCounts, Objects: m.Objects, Links: m.Links}
	b, err := indentJSON(m)
	if err != nil {
		return m, err
	}
	if err := os.WriteFile(filepath.Join(tmp, "manifest.json"), b, 0o644); err != nil {
		return m, err
	}
	// An empty existing folder gives way to the complete one, which keeps its mode; a
	// new one is the operator's alone (0700, as MkdirTemp made it): it holds the tenant.
	if st, err := os.Stat(dir); err == nil {
		if err := os.Chmod(tmp, st.Mode().Perm()); err != nil {
			return m, err
		}
		os.Remove(dir)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return m, fmt.Errorf("cannot move the export into %s: %w", dir, err)
	}
	ok = true
	return m, nil
}

// fileName maps an object id to a file name that is the same on every system: ids that
// are plain (GUIDs, Graph's opaque base64url ids) are used as they are, anything else
// is percent-encoded.
func fileName(id string) string {
	return url.PathEscape(id) + ".json"
}

func indentJSON(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	// Re-decode into generic values so every nested object's keys come out sorted.
	var generic any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&generic); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(generic); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (s *Store) snapshotByID(ctx context.Context, id int64) (Snapshot, error) {
	snaps, err := s.Snapshots(ctx)
	if err != nil {
		return Snapshot{}, err
	}
	for _, snap := range snaps {
		if snap.ID == id {
			return snap, nil
		}
	}
	return Snapshot{}, fmt.Errorf("snapshot %d is not in %s: %w", id, s.path, ErrNoSnapshot)
}
