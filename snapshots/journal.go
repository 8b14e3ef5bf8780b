package snapshots

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lifelinehq/lifeline/entra"
)

// Step states in the apply journal. A step with no row is pending.
const (
	StepSent    = "sent"
	StepDone    = "done"
	StepFailed  = "failed"
	StepSkipped = "skipped"
)

// Run is the journal's record of one plan being applied to the file's tenant.
type Run struct {
	PlanHash   string
	TenantID   string
	Snapshot   int64
	PlanPath   string
	Operator   string
	StartedAt  time.Time
	UpdatedAt  time.Time
	FinishedAt time.Time // zero while steps remain
	// LastWrite orders runs by when they last sent requests to the tenant: the
	// file's count of sending rounds at the run's last one (0: it never sent).
	LastWrite int64
}

// StepRecord is one step's journaled state and result.
type StepRecord struct {
	StepID   string
	State    string
	Attempts int
	// Result is the step's JSON result: new ids, request ids, the error sentence.
	Result    json.RawMessage
	UpdatedAt time.Time
}

// LedgerEntry maps one recreated object's old id (and appId) to the new one.
type LedgerEntry struct {
	Kind        entra.Kind `json:"kind"`
	OldID       string     `json:"old_id"`
	NewID       string     `json:"new_id"`
	OldAppID    string     `json:"old_app_id"` // "" but for applications
	NewAppID    string     `json:"new_app_id"`
	DisplayName string     `json:"display_name"`
	PlanHash    string     `json:"plan"`
	StepID      string     `json:"step"`
	RequestID   string     `json:"request_id"`
	RecordedAt  time.Time  `json:"recorded_at"`
}

const timeLayout = time.RFC3339Nano

func parseTime(s string) time.Time {
	t, _ := time.Parse(timeLayout, s)
	return t
}

// runColumns are the apply_runs columns scanRun reads, in its order.
const runColumns = "plan_hash, tenant_id, snapshot, plan_path, operator, started_at, updated_at, finished_at, last_write"

// scanRun reads one apply_runs row selected as runColumns.
func scanRun(row interface{ Scan(...any) error }) (Run, error) {
	var r Run
	var started, updated, finished string
	if err := row.Scan(&r.PlanHash, &r.TenantID, &r.Snapshot, &r.PlanPath, &r.Operator, &started, &updated, &finished, &r.LastWrite); err != nil {
		return Run{}, err
	}
	r.StartedAt, r.UpdatedAt = parseTime(started), parseTime(updated)
	if finished != "" {
		r.FinishedAt = parseTime(finished)
	}
	return r, nil
}

// Run returns the journal's record of the plan with this hash, and whether there is one.
func (s *Store) Run(ctx context.Context, planHash string) (Run, bool, error) {
	r, err := scanRun(s.r.QueryRowContext(ctx, "SELECT "+runColumns+" FROM apply_runs WHERE plan_hash = ?", planHash))
	if errors.Is(err, sql.ErrNoRows) {
		return Run{}, false, nil
	}
	if err != nil {
		return Run{}, false, fmt.Errorf("reading the apply journal of %s: %w", s.path, err)
	}
	return r, true, nil
}

// StartRun records that a plan's apply began (or resumed): the first call creates the
// run, later ones only touch its updated time and clear its finish.
func (s *Store) StartRun(ctx context.Context, r Run) error {
	w, err := s.writable()
	if err != nil {
		return err
	}
	at := r.StartedAt.UTC().Format(timeLayout)
	_, err = w.ExecContext(ctx, `INSERT INTO apply_runs (plan_hash, tenant_id, snapshot, plan_path, operator, started_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (plan_hash) DO UPDATE SET updated_at = excluded.updated_at, finished_at = ''`,
		r.PlanHash, r.TenantID, r.Snapshot, r.PlanPath, r.Operator, at, at)
	if isBusy(err) {
		return s.busyError("a capture or an import", ", so the apply cannot start: run it again once that has finished", err)
	}
	if err != nil {
		return fmt.Errorf("writing the apply journal to %s: %w", s.path, err)
	}
	return nil
}

// FinishRun records that no step of the run remains pending.
func (s *Store) FinishRun(ctx context.Context, planHash string, at time.Time) error {
	w, err := s.writable()
	if err != nil {
		return err
	}
	_, err = w.ExecContext(ctx, `UPDATE apply_runs SET finished_at = ?, updated_at = ? WHERE plan_hash = ?`,
		at.UTC().Format(timeLayout), at.UTC().Format(timeLayout), planHash)
	return err
}

// StepRecords returns the journaled state of every step of a run that has one.
func (s *Store) StepRecords(ctx context.Context, planHash string) (map[string]StepRecord, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT step_id, state, attempts, result, updated_at FROM apply_steps WHERE plan_hash = ?`, planHash)
	if err != nil {
		return nil, fmt.Errorf("reading the apply journal of %s: %w", s.path, err)
	}
	defer rows.Close()
	out := map[string]StepRecord{}
	for rows.Next() {
		var r StepRecord
		var result, updated string
		if err := rows.Scan(&r.StepID, &r.State, &r.Attempts, &result, &updated); err != nil {
			return nil, err
		}
		r.Result, r.UpdatedAt = json.RawMessage(result), parseTime(updated)
		out[r.StepID] = r
	}
	return out, rows.Err()
}

// Journal writes step states and the ledger entries they produced in one transaction:
// either the tenant-side effect of a step is fully recorded, or the step is retried
// (and reconciled by natural key) on resume.
func (s *Store) Journal(ctx context.Context, planHash, tenantID string, steps []StepRecord, ledger []LedgerEntry) (err error) {
	defer func() {
		switch {
		case isFull(err):
			err = fmt.Errorf("the disk holding %s is full, so the apply journal cannot be written and the apply stopped: free some space and run the same apply again, which resumes from the journal and checks the steps that were in flight (%w)", s.path, err)
		case isBusy(err):
			err = s.busyError("a capture or an import", ", so the apply journal cannot be written and the apply stopped: run the same apply again once it has finished, which resumes from the journal", err)
		}
	}()
	w, err := s.writable()
	if err != nil {
		return err
	}
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("writing the apply journal to %s: %w", s.path, err)
	}
	defer tx.Rollback()
	for _, r := range steps {
		result := string(r.Result)
		if result == "" {
			result = "{}"
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO apply_steps (plan_hash, step_id, state, attempts, result, updated_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (plan_hash, step_id) DO UPDATE SET state = excluded.state, attempts = excluded.attempts, result = excluded.result, updated_at = excluded.updated_at`,
			planHash, r.StepID, r.State, r.Attempts, result, r.UpdatedAt.UTC().Format(timeLayout)); err != nil {
			return fmt.Errorf("writing the apply journal to %s: %w", s.path, err)
		}
	}
	if sending(steps) {
		// Steps journaled as sent go out next: this run is now the last to write to
		// the tenant, in the file's own order (Run.LastWrite), whatever the clocks say.
		if _, err := tx.ExecContext(ctx, `UPDATE apply_runs SET last_write = (SELECT MAX(last_write) FROM apply_runs) + 1 WHERE plan_hash = ?`, planHash); err != nil {
			return fmt.Errorf("writing the apply journal to %s: %w", s.path, err)
		}
	}
	for _, e := range ledger {
		if err := recordLedger(ctx, tx, tenantID, planHash, e); err != nil {
			return fmt.Errorf("writing the ledger to %s: %w", s.path, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("writing the apply journal to %s: %w", s.path, err)
	}
	return nil
}

// recordLedger writes that the object e.OldID names now lives as e.NewID, and keeps
// every earlier id of it pointing there too. An object recreated twice (old -> B by
// one restore, then B deleted and old -> C by a restore from the same snapshot) is
// known as B to any snapshot taken between the restores: if the row for old were simply
// replaced, a plan from such a snapshot would find no trace of B and make a second
// copy. So the ids old led to (B) get rows of their own, and rows that led to old or
// to them (an object old itself replaced) are pointed at C.
func recordLedger(ctx context.Context, tx *sql.Tx, tenantID, planHash string, e LedgerEntry) error {
	at := e.RecordedAt.UTC().Format(timeLayout)
	// earlier: the ids the ledger had this object reach before e, with their appIds.
	type earlier struct{ id, appID string }
	chain := []earlier{{e.OldID, e.OldAppID}}
	seen := map[string]bool{e.OldID: true, e.NewID: true}
	for cur := e.OldID; len(chain) < 64; {
		var next, nextApp string
		err := tx.QueryRowContext(ctx, `SELECT new_id, new_app_id FROM ledger WHERE tenant_id = ? AND old_id = ?`, tenantID, cur).Scan(&next, &nextApp)
		if errors.Is(err, sql.ErrNoRows) || seen[next] {
			break
		}
		if err != nil {
			return err
		}
		seen[next] = true
		chain = append(chain, earlier{next, nextApp})
		cur = next
	}
	for _, was := range chain {
		if _, err := tx.ExecContext(ctx, `INSERT INTO ledger (tenant_id, kind, old_id, new_id, old_app_id, new_app_id, display_name, plan_hash, step_id, request_id, recorded_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (tenant_id, old_id) DO UPDATE SET new_id = excluded.new_id, new_app_id = excluded.new_app_id, plan_hash = excluded.plan_hash,
				step_id = excluded.step_id, request_id = excluded.request_id, recorded_at = excluded.recorded_at`,
			tenantID, string(e.Kind), was.id, e.NewID, was.appID, e.NewAppID, e.DisplayName, planHash, e.StepID, e.RequestID, at); err != nil {
			return err
		}
		if was.id == e.OldID && e.OldID == e.NewID {
			continue // an object that kept its id: nothing led to it but itself
		}
		if _, err := tx.ExecContext(ctx, `UPDATE ledger SET new_id = ?, new_app_id = CASE WHEN ? <> '' THEN ? ELSE new_app_id END,
				plan_hash = ?, step_id = ?, request_id = ?, recorded_at = ?
			WHERE tenant_id = ? AND new_id = ? AND old_id <> new_id`,
			e.NewID, e.NewAppID, e.NewAppID, planHash, e.StepID, e.RequestID, at, tenantID, was.id); err != nil {
			return err
		}
	}
	return nil
}

// sending reports whether a journal write marks steps as sent: their requests go out
// once it is committed.
func sending(steps []StepRecord) bool {
	for _, r := range steps {
		if r.State == StepSent {
			return true
		}
	}
	return false
}

// Runs returns every apply run recorded for a tenant.
func (s *Store) Runs(ctx context.Context, tenantID string) ([]Run, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+runColumns+" FROM apply_runs WHERE tenant_id = ?", tenantID)
	if err != nil {
		return nil, fmt.Errorf("reading the apply journal of %s: %w", s.path, err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("reading the apply journal of %s: %w", s.path, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Ledger returns every old id -> new id mapping recorded for a tenant, oldest first.
func (s *Store) Ledger(ctx context.Context, tenantID string) ([]LedgerEntry, error) {
	// A file written before schema 2, opened read-only, has no ledger: nothing recreated.
	var tables int
	if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE name = 'ledger'").Scan(&tables); err != nil || tables == 0 {
		return []LedgerEntry{}, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT kind, old_id, new_id, old_app_id, new_app_id, display_name, plan_hash, step_id, request_id, recorded_at
		FROM ledger WHERE tenant_id = ? ORDER BY recorded_at, kind, old_id`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("reading the ledger of %s: %w", s.path, err)
	}
	defer rows.Close()
	out := []LedgerEntry{}
	for rows.Next() {
		var e LedgerEntry
		var kind, at string
		if err := rows.Scan(&kind, &e.OldID, &e.NewID, &e.OldAppID, &e.NewAppID, &e.DisplayName, &e.PlanHash, &e.StepID, &e.RequestID, &at); err != nil {
			return nil, err
		}
		e.Kind, e.RecordedAt = entra.Kind(kind), parseTime(at)
		out = append(out, e)
	}
	return out, rows.Err()
}
