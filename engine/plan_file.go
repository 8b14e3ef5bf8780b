package engine

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// sqliteHeader opens every SQLite database file, a snapshot file among them.
const sqliteHeader = "SQLite format 3\x00"

// CheckPlanDestination says whether a plan may be written at path: a new or empty
// file, or an earlier lifeline plan, which the new one replaces, in a folder that can
// be written. Anything else is refused, a snapshot file above all (a plan written over
// it would lose every snapshot it holds), before the tenant is read.
func CheckPlanDestination(path string) error {
	if err := checkPlanFile(path); err != nil {
		return err
	}
	return checkWritableFolder(path)
}

// checkWritableFolder creates and removes a scratch file beside path, as writing the
// plan does (a temporary file there, renamed), so that a read-only folder is refused
// before the tenant is read and the plan built, not after.
func checkWritableFolder(path string) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		cause := err
		var pe *os.PathError
		if errors.As(err, &pe) {
			cause = pe.Err
		}
		return fmt.Errorf("%s cannot be written in %s (%v); make the folder writable, or give a path in a folder you can write to", filepath.Base(path), dir, cause)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// checkPlanFile says whether what is at path may be replaced by a plan.
func checkPlanFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot check %s before writing the plan there: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("cannot check %s before writing the plan there: %w", path, err)
	}
	if info.IsDir() {
		return fmt.Errorf("%s is a directory; give the plan a file name, such as %s", path, strings.TrimSuffix(path, "/")+"/plan.json")
	}
	if info.Size() == 0 {
		return nil
	}
	head := make([]byte, len(sqliteHeader))
	n, _ := io.ReadFull(f, head)
	if string(head[:n]) == sqliteHeader {
		return fmt.Errorf("%s is a SQLite database (a snapshot file?), and writing the plan there would destroy it; give the plan another file name", path)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("cannot check %s before writing the plan there: %w", path, err)
	}
	if !isPlanFile(f) {
		return fmt.Errorf("%s already exists and is not a lifeline plan; lifeline replaces only an earlier plan, so give another file name or move that file away", path)
	}
	return nil
}

// isPlanFile reads the start of r and reports whether it is a lifeline plan: a JSON
// object whose "format" names one. The format comes first in a plan, so a plan of
// hundreds of megabytes is not read in full.
func isPlanFile(r io.Reader) bool {
	dec := json.NewDecoder(bufio.NewReader(r))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return false
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return false
		}
		if key == "format" {
			var format string
			return json.Unmarshal(v, &format) == nil && strings.HasPrefix(format, "lifeline-plan/")
		}
	}
	return false
}

// isPasswordFile reports whether the first line of the file at r is one apply writes:
// user principal name, password, old id and time, tab-separated.
func isPasswordFile(r io.Reader) bool {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadBytes('\n')
	if err != nil {
		return false
	}
	fields := bytes.Split(bytes.TrimSuffix(line, []byte("\n")), []byte("\t"))
	if len(fields) != 4 {
		return false
	}
	_, err = time.Parse(time.RFC3339, string(fields[3]))
	return err == nil
}
