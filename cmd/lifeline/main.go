// Command lifeline is a terminal recovery console for Microsoft Entra ID tenants: it keeps
// an external, versioned copy of a tenant, shows what changed and what depends on what,
// and drives a staged, throttled, resumable restore through Microsoft Graph.
//
// This package is wiring only: flags, configuration and output. The work happens in
// entra, graphx, snapshots, engine, tenant/graphapi, tenant/sim and tui.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/lifelinehq/lifeline/snapshots"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command line and returns the process exit code, so that tests can
// drive the binary's whole behaviour in-process.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runContext(ctx, args, stdout, stderr)
}

// runContext is run with the caller's context: cancelling it is SIGTERM.
func runContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCommand(stdout, stderr)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	if msg := errorSentence(cmd, err); msg != "" {
		fmt.Fprintln(stderr, "lifeline: "+msg)
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if isUsageError(err) {
		// The command that refused its arguments, whose help lists the ones it takes.
		path := "lifeline"
		if cmd != nil {
			path = cmd.CommandPath()
		}
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", path)
		return exitUsage
	}
	return exitFailure
}

// errorSentence is what lifeline says about the error a command returned: "" for none,
// or for an exit code that speaks for itself (its command has already said why).
func errorSentence(cmd *cobra.Command, err error) string {
	if err == nil {
		return ""
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err == nil {
			return ""
		}
		return ee.err.Error()
	}
	if snapshots.IsDamaged(err) {
		err = damagedFile(cmd, err)
	}
	return err.Error()
}

// damagedFile is the sentence for a snapshot file SQLite finds malformed: which file,
// and what to do, where SQLite's own words name neither.
func damagedFile(cmd *cobra.Command, err error) error {
	// A command without --db (apply reads it from the plan) names the file in general.
	file, arg := "the snapshot file", "FILE"
	if cmd != nil {
		if f := cmd.Flags().Lookup("db"); f != nil && f.Value.String() != "" {
			file, arg = f.Value.String(), f.Value.String()
		}
	}
	return fmt.Errorf("%s is damaged: SQLite finds its pages malformed (%v); 'lifeline snapshots verify --db %s' says what is damaged: restore the file from a copy", file, err, arg)
}
