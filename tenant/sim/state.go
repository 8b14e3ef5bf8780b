package sim

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/lifelinehq/lifeline/entra"
)

// --state DIR keeps a sim's directory across restarts: objects (with the bins and their
// deletedDateTime), links, the audit log, the drill's clock advance, and the keys and
// certificate, so clients that pinned the certificate or hold tokens keep working.
// Each file is written to a temporary name and renamed into place.

const (
	stateFile   = "directory.jsonl"
	certFile    = "sim-cert.pem"
	keyFile     = "sim-key.pem"
	stateFormat = 1
)

type stateHeader struct {
	Format      int    `json:"format"`
	TenantID    string `json:"tenant_id"`
	Domain      string `json:"domain"`
	DisplayName string `json:"display_name"`
	OffsetNS    int64  `json:"clock_offset_ns"`
	Seq         uint64 `json:"seq"`
	AuditSeq    uint64 `json:"audit_seq"`
	SignKey     []byte `json:"sign_key"`
	TokenKey    []byte `json:"token_key"`
}

type stateObject struct {
	Kind    entra.Kind      `json:"kind"`
	ID      string          `json:"id"`
	Deleted int64           `json:"deleted,omitempty"`
	Data    json.RawMessage `json:"data"`
}

type stateAudit struct {
	Seq      uint64          `json:"seq"`
	ID       string          `json:"id"`
	At       time.Time       `json:"at"`
	Activity string          `json:"activity"`
	Data     json.RawMessage `json:"data"`
}

// stateRecord is one line of the state file: exactly one field is set.
type stateRecord struct {
	Header *stateHeader `json:"header,omitempty"`
	Object *stateObject `json:"object,omitempty"`
	Link   *Link        `json:"link,omitempty"`
	Audit  *stateAudit  `json:"audit,omitempty"`
}

// SaveState writes the directory to dir (Close calls it when Options.StateDir is set).
func (s *Sim) SaveState(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return errorf("creating the state directory: %v", err)
	}
	if err := writeAtomic(filepath.Join(dir, certFile), s.tls.certPEM, 0o644); err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(dir, keyFile), s.tls.keyPEM, 0o600); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, stateFile+".tmp*")
	if err != nil {
		return errorf("writing the state: %v", err)
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriterSize(tmp, 1<<20)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	s.mu.RLock()
	err = s.st.save(enc, stateHeader{Format: stateFormat, OffsetNS: s.offset.Load(), SignKey: s.signKey, TokenKey: s.tokenKey})
	s.mu.RUnlock()
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return errorf("writing the state: %v", err)
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return errorf("writing the state: %v", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, stateFile)); err != nil {
		return errorf("writing the state: %v", err)
	}
	return nil
}

func (st *store) save(enc *json.Encoder, h stateHeader) error {
	h.TenantID, h.Domain, h.DisplayName, h.Seq, h.AuditSeq = st.tenantID, st.domain, st.displayName, st.seq, st.auditSeq
	if err := enc.Encode(stateRecord{Header: &h}); err != nil {
		return err
	}
	for _, k := range entra.Kinds() {
		for _, set := range []*idSet{st.live[k], st.bin[k]} {
			var err error
			set.Ascend("", func(id string) bool {
				o := st.objs[id]
				err = enc.Encode(stateRecord{Object: &stateObject{Kind: o.kind, ID: o.id, Deleted: o.deleted, Data: o.data}})
				return err == nil
			})
			if err != nil {
				return err
			}
		}
	}
	for key, set := range st.links {
		from := st.objs[key.from]
		var err error
		set.Ascend("", func(to string) bool {
			t := st.objs[to]
			err = enc.Encode(stateRecord{Link: &Link{FromKind: from.kind, From: key.from, Name: key.name, ToKind: t.kind, To: to}})
			return err == nil
		})
		if err != nil {
			return err
		}
	}
	for _, a := range st.audit {
		if err := enc.Encode(stateRecord{Audit: &stateAudit{Seq: a.seq, ID: a.id, At: a.at, Activity: a.activity, Data: a.data}}); err != nil {
			return err
		}
	}
	return nil
}

// loadState loads a saved state from dir; it reports false when dir holds none.
func (s *Sim) loadState(dir string) (bool, error) {
	f, err := os.Open(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, errorf("reading the state: %v", err)
	}
	defer f.Close()
	certPEM, err := os.ReadFile(filepath.Join(dir, certFile))
	if err != nil {
		return false, errorf("reading the state's certificate: %v", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, keyFile))
	if err != nil {
		return false, errorf("reading the state's key: %v", err)
	}
	tm, err := tlsFromPEM(certPEM, keyPEM)
	if err != nil {
		return false, err
	}
	dec := json.NewDecoder(bufio.NewReaderSize(f, 1<<20))
	var st *store
	var links []Link
	for {
		var rec stateRecord
		err := dec.Decode(&rec)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return false, errorf("the state in %s is corrupt: %v", dir, err)
		}
		switch {
		case rec.Header != nil:
			h := rec.Header
			if h.Format != stateFormat || st != nil {
				return false, errorf("the state in %s has an unknown format", dir)
			}
			st = newStore(h.TenantID, h.Domain, h.DisplayName)
			st.seq, st.changeFloor, st.auditSeq = h.Seq, h.Seq, h.AuditSeq
			s.offset.Store(h.OffsetNS)
			s.signKey, s.tokenKey = h.SignKey, h.TokenKey
		case st == nil:
			return false, errorf("the state in %s has no header", dir)
		case rec.Object != nil:
			o := rec.Object
			if _, ok := entra.Lookup(o.Kind); !ok || o.ID == "" || !json.Valid(o.Data) {
				return false, errorf("the state in %s holds an invalid object", dir)
			}
			st.setObj(o.ID, &object{kind: o.Kind, id: o.ID, deleted: o.Deleted, data: []byte(o.Data)})
		case rec.Link != nil:
			links = append(links, *rec.Link)
		case rec.Audit != nil:
			a := rec.Audit
			st.audit = append(st.audit, &auditEntry{seq: a.Seq, id: a.ID, at: a.At, activity: a.Activity, data: []byte(a.Data)})
			st.expireAt(a.At.Add(auditRetention))
		}
	}
	if st == nil || len(s.signKey) == 0 || len(s.tokenKey) == 0 {
		return false, errorf("the state in %s is incomplete", dir)
	}
	st.finishLoad()
	for _, l := range links {
		if st.objs[l.From] == nil || st.objs[l.To] == nil {
			return false, errorf("the state in %s links objects it does not hold", dir)
		}
		st.addLink(l.From, l.Name, l.To)
	}
	s.st = st
	s.tls = tm
	return true, nil
}

// writeAtomic writes a file through a temporary name and a rename.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return errorf("writing %s: %v", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return errorf("writing %s: %v", path, err)
	}
	if err := tmp.Close(); err != nil {
		return errorf("writing %s: %v", path, err)
	}
	if err := os.Chmod(tmp.Name(), mode); err != nil {
		return errorf("writing %s: %v", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return errorf("writing %s: %v", path, err)
	}
	return nil
}
