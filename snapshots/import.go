package snapshots

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/lifelinehq/lifeline/entra"
)

// maxObjectFile bounds one object file: a directory object is kilobytes; anything
// near this size is hostile or corrupt, and must not be read into memory whole.
const maxObjectFile = 32 << 20

// ImportReport says what an import loaded and what it could not map.
type ImportReport struct {
	Snapshot Snapshot       `json:"snapshot"`
	Format   string         `json:"format"`
	Loaded   map[string]int `json:"loaded"`
	Links    int            `json:"links"`
	// Skipped lists what the folder held that lifeline does not model, one entry per
	// folder or file, with the reason.
	Skipped []string `json:"skipped"`
}

// ImportOptions adjusts an import.
type ImportOptions struct {
	// TenantID names the tenant when the folder does not (an EntraExporter export
	// without Organization.json).
	TenantID string
	// AcceptEdits imports a lifeline export whose content no longer matches its
	// manifest's root hash (a file edited, added or removed since the export), which is
	// otherwise refused.
	AcceptEdits bool
	// Label overrides the snapshot's label.
	Label string
}

// Import loads a snapshot folder into the store as a new snapshot: a folder written by
// Export (the round trip keeps the root hash), or one written by Microsoft's
// EntraExporter. Everything is checked before anything is committed: a bad file
// anywhere leaves the store as it was.
func (s *Store) Import(ctx context.Context, dir string, opts ImportOptions) (rep ImportReport, err error) {
	defer func() { err = s.explainFull("import", err) }()
	info, err := os.Stat(dir)
	if err != nil {
		return ImportReport{}, fmt.Errorf("cannot read %s: %w", dir, err)
	}
	if !info.IsDir() {
		return ImportReport{}, fmt.Errorf("%s is a file; import takes the folder an export wrote", dir)
	}
	// A folder that cannot be read is said so, not taken for one of another format.
	unreadable := func(err error) error { return fmt.Errorf("cannot read the folder %s: %w", dir, err) }
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err == nil {
		return s.importLifeline(ctx, dir, opts)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return ImportReport{}, unreadable(err)
	}
	for _, marker := range []string{"Users", "Groups", "Organization", "Identity", "Applications", "ServicePrincipals"} {
		fi, err := os.Stat(filepath.Join(dir, marker))
		if err == nil && fi.IsDir() {
			return s.importEntraExporter(ctx, dir, opts)
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return ImportReport{}, unreadable(err)
		}
	}
	return ImportReport{}, fmt.Errorf("%s is neither a lifeline export (no manifest.json) nor an EntraExporter export (no Users, Groups or Organization folder)", dir)
}

func (s *Store) importLifeline(ctx context.Context, dir string, opts ImportOptions) (ImportReport, error) {
	rep := ImportReport{Format: ExportFormat, Loaded: map[string]int{}}
	var m Manifest
	if err := readJSONFile(filepath.Join(dir, "manifest.json"), &m); err != nil {
		return rep, err
	}
	if m.Format != ExportFormat {
		return rep, fmt.Errorf("%s has format %q; this lifeline reads %q", filepath.Join(dir, "manifest.json"), m.Format, ExportFormat)
	}
	if m.TenantID == "" {
		return rep, fmt.Errorf("%s names no tenant_id", filepath.Join(dir, "manifest.json"))
	}
	label := m.Label
	if opts.Label != "" {
		label = opts.Label
	}
	w, err := s.Begin(ctx, SnapshotMeta{TenantID: m.TenantID, GraphURL: m.GraphURL, TakenAt: m.TakenAt, Label: label, Source: "import"})
	if err != nil {
		return rep, err
	}
	defer w.Rollback()

	entries, err := os.ReadDir(dir)
	if err != nil {
		return rep, err
	}
	for _, e := range entries {
		if e.Name() == "manifest.json" {
			continue
		}
		if !e.IsDir() {
			rep.Skipped = append(rep.Skipped, e.Name()+": not part of the export format")
			continue
		}
		kind, err := entra.ParseKind(e.Name())
		if err != nil {
			return rep, fmt.Errorf("%s: folder %s is not an object kind lifeline knows (%v)", dir, e.Name(), err)
		}
		files, err := os.ReadDir(filepath.Join(dir, e.Name()))
		if err != nil {
			return rep, err
		}
		for _, f := range files {
			path := filepath.Join(dir, e.Name(), f.Name())
			var o exportedObject
			if err := readJSONFile(path, &o); err != nil {
				return rep, err
			}
			if err := checkExported(path, kind, f.Name(), o); err != nil {
				return rep, err
			}
			if err := w.PutObject(ctx, kind, o.ID, o.Object, o.InBin); err != nil {
				return rep, fmt.Errorf("%s: %w", path, err)
			}
			rep.Loaded[string(kind)]++
			for name, targets := range o.Links {
				if _, ok := entra.MustLookup(kind).Link(name); !ok {
					return rep, fmt.Errorf("%s: a %s has no link %q", path, kind, name)
				}
				for _, t := range targets {
					if _, ok := entra.Lookup(t.Kind); !ok || t.ID == "" {
						return rep, fmt.Errorf("%s: link %s points at an unknown kind %q or an empty id", path, name, t.Kind)
					}
					if err := w.PutLink(ctx, Link{Kind: kind, From: o.ID, Name: name, To: t.ID, ToKind: t.Kind}); err != nil {
						return rep, err
					}
					rep.Links++
				}
			}
		}
	}
	// A folder that lost a file would otherwise be a snapshot in which that object was
	// deleted, and a plan from it would delete the object from the tenant.
	w.check = func(snap Snapshot) error {
		if snap.RootHash == m.RootHash || opts.AcceptEdits {
			return nil
		}
		return fmt.Errorf("%s does not hold what its manifest says (%s): it was edited after the export; export the snapshot again, or import the folder as it is with --accept-edits",
			dir, manifestMismatch(m, snap))
	}
	snap, err := w.Commit(ctx)
	if err != nil {
		return rep, err
	}
	rep.Snapshot = snap
	if snap.RootHash != m.RootHash {
		rep.Skipped = append(rep.Skipped, fmt.Sprintf("manifest.json: root hash %s differs from the imported content's %s (imported with --accept-edits)", short(m.RootHash), short(snap.RootHash)))
	}
	return rep, nil
}

// manifestMismatch says how an imported folder differs from its manifest: the first
// kind whose count differs, or else that some content was changed.
func manifestMismatch(m Manifest, snap Snapshot) string {
	kinds := map[string]bool{}
	for k := range m.Counts {
		kinds[k] = true
	}
	for k := range snap.Counts {
		kinds[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(kinds)) {
		if m.Counts[k] != snap.Counts[k] {
			return fmt.Sprintf("%d %s objects, the folder %d", m.Counts[k], k, snap.Counts[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(m.BinCounts)) {
		if m.BinCounts[k] != snap.BinCounts[k] {
			return fmt.Sprintf("%d %s objects in the bin, the folder %d", m.BinCounts[k], k, snap.BinCounts[k])
		}
	}
	if m.Links != snap.LinkCount {
		return fmt.Sprintf("%d links, the folder %d", m.Links, snap.LinkCount)
	}
	return fmt.Sprintf("root hash %s, the folder's content %s", short(m.RootHash), short(snap.RootHash))
}

func checkExported(path string, kind entra.Kind, file string, o exportedObject) error {
	if o.Kind != kind {
		return fmt.Errorf("%s: says it is a %q but sits in the %s folder", path, o.Kind, kind)
	}
	if o.ID == "" || fileName(o.ID) != file {
		return fmt.Errorf("%s: its id %q does not match its file name", path, o.ID)
	}
	if len(o.Object) == 0 || o.Object[0] != '{' {
		return fmt.Errorf("%s: has no object", path)
	}
	data, err := Canonicalize(kind, o.Object)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var inner struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(data, &inner)
	if inner.ID != "" && inner.ID != o.ID {
		return fmt.Errorf("%s: the object's own id %q differs from the file's %q", path, inner.ID, o.ID)
	}
	if o.SHA256 != "" && HashOf(data).String() != o.SHA256 {
		return fmt.Errorf("%s: content does not match its sha256 (the file was altered or damaged)", path)
	}
	return nil
}

// readJSONFile decodes one JSON document from a file, refusing oversized files, files
// in encodings JSON does not allow, and trailing garbage.
func readJSONFile(path string, v any) error {
	data, err := readBounded(path)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s is not valid JSON: %s", path, jsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s is not valid JSON: data after the end of the document", path)
	}
	return nil
}

// jsonProblem says what is wrong with a JSON document in the terms of the document
// (the member and what it holds), not of the Go types it was read into.
func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		where := "the document"
		if typeErr.Field != "" {
			where = fmt.Sprintf("member %q", typeErr.Field)
		}
		return fmt.Sprintf("%s holds a %s where the format has %s", where, typeErr.Value, jsonKindOf(typeErr.Type))
	}
	return err.Error()
}

// jsonKindOf names what a Go type reads from JSON.
func jsonKindOf(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "a string"
		}
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number in range"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "another type"
}

// readBounded reads a file of at most maxObjectFile bytes and returns it as UTF-8,
// converting the UTF-16 that Windows PowerShell's Out-File writes. A symbolic link is
// refused: an export folder holds its own files, and a link planted in one could make
// an import read any file the operator can (its first bytes would be quoted back).
func readBounded(path string) ([]byte, error) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return nil, fmt.Errorf("%s is a symbolic link; an export folder holds its own files: copy it without links (cp -rL) and import the copy", path)
	} else if err == nil && fi.IsDir() {
		return nil, fmt.Errorf("%s is a folder where the export has a file; the folder was altered: export again", path)
	}
	f, err := os.Open(path)
	if err != nil {
		var pathErr *fs.PathError
		if errors.As(err, &pathErr) {
			err = pathErr.Err // the path is in the sentence once
		}
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxObjectFile+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	if len(data) > maxObjectFile {
		return nil, fmt.Errorf("%s is larger than %d MiB; no directory object is that large, so it is not an export file", path, maxObjectFile>>20)
	}
	return toUTF8(data), nil
}

func toUTF8(b []byte) []byte {
	switch {
	case bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF}):
		return b[3:]
	case bytes.HasPrefix(b, []byte{0xFF, 0xFE}), bytes.HasPrefix(b, []byte{0xFE, 0xFF}):
		le := b[0] == 0xFF
		b = b[2:]
		u := make([]uint16, len(b)/2)
		for i := range u {
			if le {
				u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
			} else {
				u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
			}
		}
		return []byte(string(utf16.Decode(u)))
	}
	return b
}

// entraExporterFolders maps EntraExporter's folders (Get-EEDefaultSchema) to kinds.
var entraExporterFolders = []struct {
	path string
	kind entra.Kind
	// children maps a child folder to a link name, or to a kind when the children are
	// objects of their own (app role assignments, grants).
	links   map[string]string
	objects map[string]entra.Kind
}{
	{path: "Users", kind: entra.KindUser},
	{path: "Groups", kind: entra.KindGroup, links: map[string]string{"Members": "members", "Owners": "owners"}},
	{path: "Applications", kind: entra.KindApplication, links: map[string]string{"Owners": "owners"}},
	{path: "ServicePrincipals", kind: entra.KindServicePrincipal, links: map[string]string{"Owners": "owners"},
		objects: map[string]entra.Kind{"AppRoleAssignedTo": entra.KindAppRoleAssignment, "AppRoleAssignments": entra.KindAppRoleAssignment, "Oauth2PermissionGrants": entra.KindOAuth2PermissionGrant}},
	{path: "AdministrativeUnits", kind: entra.KindAdministrativeUnit, links: map[string]string{"Members": "members"}},
	{path: "Identity/Conditional/AccessPolicies", kind: entra.KindConditionalAccessPolicy},
	{path: "Identity/Conditional/NamedLocations", kind: entra.KindNamedLocation},
	{path: "RoleManagement/Directory/RoleDefinitions", kind: entra.KindRoleDefinition},
	{path: "RoleManagement/Directory/RoleAssignments", kind: entra.KindRoleAssignment},
}

func (s *Store) importEntraExporter(ctx context.Context, dir string, opts ImportOptions) (ImportReport, error) {
	rep := ImportReport{Format: "entraexporter", Loaded: map[string]int{}}
	type pending struct {
		kind entra.Kind
		id   string
		raw  []byte
	}
	var objects []pending
	var links []Link
	// seen is where each object was first read and what it held: an assignment is
	// exported twice (under its resource and under its principal), alike; anything
	// else read twice, or read twice unlike, is a folder someone altered, and taking
	// either copy would let a planted file replace the genuine object.
	type first struct {
		path string
		obj  []byte
	}
	seen := map[string]first{}
	dropped := map[string]bool{}
	addObject := func(path string, kind entra.Kind, raw []byte) (string, error) {
		obj, id, err := projectObject(kind, raw, dropped)
		if err != nil {
			return "", fmt.Errorf("%s: %w", path, err)
		}
		key := string(kind) + "\x00" + id
		if f, ok := seen[key]; ok {
			if !bytes.Equal(f.obj, obj) || (kind != entra.KindAppRoleAssignment && kind != entra.KindOAuth2PermissionGrant) {
				return "", fmt.Errorf("%s holds %s %s, which %s holds too%s; an export holds each object once, so the folder was altered: export the tenant again", path, kind, id, f.path, unlessAlike(bytes.Equal(f.obj, obj)))
			}
			return id, nil
		}
		seen[key] = first{path, obj}
		objects = append(objects, pending{kind, id, obj})
		return id, nil
	}

	tenantID := opts.TenantID
	if raw, err := readBounded(filepath.Join(dir, "Organization", "Organization.json")); err == nil {
		for _, item := range splitJSONItems(raw) {
			if _, err := addObject("Organization/Organization.json", entra.KindOrganization, item); err != nil {
				return rep, err
			}
			if tenantID == "" {
				tenantID = objects[len(objects)-1].id
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return rep, err
	}
	if tenantID == "" {
		return rep, fmt.Errorf("%s has no Organization/Organization.json to say which tenant it is; pass it with --tenant-id", dir)
	}

	mapped := map[string]bool{"Organization/Organization.json": true}
	for _, folder := range entraExporterFolders {
		root := filepath.Join(dir, filepath.FromSlash(folder.path))
		items, err := os.ReadDir(root)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return rep, err
		}
		mapped[folder.path] = true
		for _, item := range items {
			if !item.IsDir() {
				rep.Skipped = append(rep.Skipped, folder.path+"/"+item.Name()+": not in EntraExporter's <id>/<id>.json layout")
				continue
			}
			id := item.Name()
			path := filepath.Join(root, id, id+".json")
			raw, err := readBounded(path)
			if err != nil {
				return rep, err
			}
			got, err := addObject(path, folder.kind, raw)
			if err != nil {
				return rep, err
			}
			if got != id {
				return rep, fmt.Errorf("%s holds %s %s, not %s; EntraExporter names each folder by its object's id, so the folder was altered: export the tenant again", path, folder.kind, got, id)
			}
			children, _ := os.ReadDir(filepath.Join(root, id))
			for _, child := range children {
				if !child.IsDir() {
					continue
				}
				name, isLink := folder.links[child.Name()]
				childKind, isObject := folder.objects[child.Name()]
				if !isLink && !isObject {
					rep.Skipped = append(rep.Skipped, folder.path+"/*/"+child.Name()+": lifeline does not model it")
					continue
				}
				grandchildren, err := os.ReadDir(filepath.Join(root, id, child.Name()))
				if err != nil {
					return rep, err
				}
				for _, gc := range grandchildren {
					cpath := filepath.Join(root, id, child.Name(), gc.Name(), gc.Name()+".json")
					craw, err := readBounded(cpath)
					if err != nil {
						return rep, err
					}
					if isObject {
						got, err := addObject(cpath, childKind, craw)
						if err != nil {
							return rep, err
						}
						if got != gc.Name() {
							return rep, fmt.Errorf("%s holds %s %s, not %s; EntraExporter names each folder by its object's id, so the folder was altered: export the tenant again", cpath, childKind, got, gc.Name())
						}
						continue
					}
					var target map[string]any
					if err := json.Unmarshal(craw, &target); err != nil {
						return rep, fmt.Errorf("%s is not valid JSON: %v", cpath, err)
					}
					toKind := linkTargetKind(target)
					if toKind == "" {
						rep.Skipped = append(rep.Skipped, fmt.Sprintf("%s: member of an unmodelled type %v", cpath, target["@odata.type"]))
						continue
					}
					links = append(links, Link{Kind: folder.kind, From: id, Name: name, To: gc.Name(), ToKind: toKind})
				}
			}
		}
	}

	// The authentication methods policy is exported as one file per configuration.
	cfgDir := filepath.Join(dir, "Policies", "AuthenticationMethodsPolicy", "AuthenticationMethodConfigurations")
	if files, err := os.ReadDir(cfgDir); err == nil {
		var cfgs []json.RawMessage
		for _, f := range files {
			raw, err := readBounded(filepath.Join(cfgDir, f.Name()))
			if err != nil {
				return rep, err
			}
			if !json.Valid(raw) {
				return rep, fmt.Errorf("%s is not valid JSON", filepath.Join(cfgDir, f.Name()))
			}
			cfgs = append(cfgs, raw)
		}
		policy, _ := json.Marshal(map[string]any{"id": "authenticationMethodsPolicy", "authenticationMethodConfigurations": cfgs})
		if _, err := addObject(cfgDir, entra.KindAuthenticationMethodsPolicy, policy); err != nil {
			return rep, err
		}
		mapped["Policies/AuthenticationMethodsPolicy"] = true
	}

	rep.Skipped = append(rep.Skipped, unmappedFolders(dir, mapped)...)
	for prop := range dropped {
		rep.Skipped = append(rep.Skipped, "property "+prop+": not part of lifeline's model of the kind")
	}
	sort.Strings(rep.Skipped)

	label := opts.Label
	if label == "" {
		label = "EntraExporter import of " + filepath.Base(filepath.Clean(dir))
	}
	w, err := s.Begin(ctx, SnapshotMeta{TenantID: tenantID, TakenAt: folderTime(dir), Label: label, Source: "entraexporter"})
	if err != nil {
		return rep, err
	}
	defer w.Rollback()
	for _, o := range objects {
		if err := w.PutObject(ctx, o.kind, o.id, o.raw, false); err != nil {
			return rep, err
		}
		rep.Loaded[string(o.kind)]++
	}
	for _, l := range links {
		if err := w.PutLink(ctx, l); err != nil {
			return rep, err
		}
		rep.Links++
	}
	rep.Snapshot, err = w.Commit(ctx)
	return rep, err
}

// projectObject keeps the properties lifeline models for kind (recording the others in
// dropped), and returns the object's id.
func projectObject(kind entra.Kind, raw []byte, dropped map[string]bool) ([]byte, string, error) {
	if t := bytes.TrimLeft(raw, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return nil, "", errors.New("is not a JSON object; EntraExporter writes one object per file")
	}
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		return nil, "", fmt.Errorf("is not valid JSON: %s", jsonProblem(err))
	}
	id, _ := obj["id"].(string)
	if id == "" {
		return nil, "", errors.New("object has no id")
	}
	spec := entra.MustLookup(kind)
	for k := range obj {
		if k == "@odata.type" {
			continue
		}
		if _, ok := spec.Property(k); !ok {
			delete(obj, k)
			dropped[string(kind)+"."+k] = true
		}
	}
	out, err := json.Marshal(obj)
	return out, id, err
}

// unlessAlike finishes the duplicate-object sentence: whether the two copies differ.
func unlessAlike(alike bool) string {
	if alike {
		return ""
	}
	return " with other content"
}

func linkTargetKind(target map[string]any) entra.Kind {
	t, _ := target["@odata.type"].(string)
	if k, ok := entra.KindForODataType(t); ok {
		return k
	}
	if _, ok := target["userPrincipalName"]; ok {
		return entra.KindUser
	}
	return ""
}

// splitJSONItems returns the objects of a JSON array, or the document itself when it
// is a single object (ConvertTo-Json writes one-element results unwrapped).
func splitJSONItems(raw []byte) [][]byte {
	var arr []json.RawMessage
	if err := json.Unmarshal(raw, &arr); err == nil {
		out := make([][]byte, len(arr))
		for i, a := range arr {
			out[i] = a
		}
		return out
	}
	return [][]byte{raw}
}

func unmappedFolders(dir string, mapped map[string]bool) []string {
	var out []string
	var walk func(rel string, depth int)
	walk = func(rel string, depth int) {
		entries, err := os.ReadDir(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			return
		}
		for _, e := range entries {
			p := strings.TrimPrefix(rel+"/"+e.Name(), "/")
			if mapped[p] {
				continue
			}
			covers := false
			for m := range mapped {
				if strings.HasPrefix(m, p+"/") {
					covers = true
				}
			}
			if covers && e.IsDir() && depth < 3 {
				walk(p, depth+1)
				continue
			}
			out = append(out, p+": lifeline does not model it")
		}
	}
	walk("", 0)
	return out
}

// folderTime is the export's time as well as a folder can tell: its modification time.
func folderTime(dir string) time.Time {
	if fi, err := os.Stat(dir); err == nil {
		return fi.ModTime()
	}
	return time.Now()
}
