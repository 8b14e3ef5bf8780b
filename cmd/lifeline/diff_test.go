package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/lifelinehq/lifeline/engine"
	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/snapshots"
)

// A by-id diff after a restore lists a recreated object as hard-deleted and its copy as
// added; the text says they are one object, beside both and in a line of its own.
func TestDiffSaysWhichDeletionsARestoreRecreated(t *testing.T) {
	t.Parallel()
	res := &snapshots.DiffResult{
		Summary: snapshots.Summary{Added: 2, HardDeleted: 2},
		Changes: []snapshots.Change{
			{Kind: entra.KindGroup, ID: "old-1", DisplayName: "Finance Admins", Change: snapshots.HardDeleted},
			{Kind: entra.KindGroup, ID: "old-2", DisplayName: "Gone For Good", Change: snapshots.HardDeleted},
			{Kind: entra.KindGroup, ID: "new-1", DisplayName: "Finance Admins", Change: snapshots.Added},
			{Kind: entra.KindUser, ID: "u-9", DisplayName: "Backdoor", Change: snapshots.Added},
		},
	}
	var out bytes.Buffer
	printDiff(&out, res, engine.NewRecreated(map[string]string{"old-1": "new-1"}))
	s := out.String()
	for _, want := range []string{
		"1 of the hard-deleted objects were recreated by a restore, and are among the added under their new ids",
		"Finance Admins (old-1)  [no audit evidence; a restore recreated it as new-1]",
		"Finance Admins (new-1)  [no audit evidence; a restore's copy of old-1]",
		"Gone For Good (old-2)  [no audit evidence]",
		"Backdoor (u-9)  [no audit evidence]",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("diff lacks %q:\n%s", want, s)
		}
	}
}
