package snapshots

import (
	"errors"
	"fmt"
	"os"
)

// ErrApplyRunning is wrapped by LockApply's refusal: another apply holds the file.
var ErrApplyRunning = errors.New("another apply is running")

// LockApply claims the file for one apply until unlock is called: two runs at once
// (the same plan from two shells, or the console and the CLI) would each send the
// plan's creates, recreate every purged object twice and mix up the ledger. SQLite
// only serializes their single writes. The claim is an OS lock on FILE-apply.lock, so
// a killed apply leaves no claim behind and its resume can start at once. The lock
// file stays: removing it while another process waits on it would let two runs hold
// locks on different files.
func (s *Store) LockApply() (unlock func(), err error) {
	if _, err := s.writable(); err != nil {
		return nil, err
	}
	path := s.path + "-apply.lock"
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot open %s, which keeps two applies from running at once: %w; make its folder writable", path, err)
	}
	held, err := tryLockFile(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot lock %s, which keeps two applies from running at once: %w", path, err)
	}
	if !held {
		f.Close()
		return nil, fmt.Errorf("%w with %s (from another shell or the console): wait for it to finish, or stop it and run this apply again, which resumes from the journal", ErrApplyRunning, s.path)
	}
	return func() { unlockFile(f); f.Close() }, nil
}
