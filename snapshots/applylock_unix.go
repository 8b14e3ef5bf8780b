//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package snapshots

import (
	"errors"
	"os"
	"syscall"
)

// tryLockFile takes an exclusive flock on f without waiting; held is false when another
// open file (in this process or another) holds it. flock, unlike SQLite's fcntl locks,
// belongs to the open file, so closing f releases it and nothing else.
func tryLockFile(f *os.File) (held bool, err error) {
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}

func unlockFile(f *os.File) { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
