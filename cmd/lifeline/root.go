package main

import (
	"errors"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes are part of the CLI contract (DESIGN.md): scripts branch on them.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// exitError carries a specific exit code out of a command. A nil err means the command
// already told the operator what happened.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return "exit status"
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageError marks bad command-line input: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(msg string) error { return usageError{msg: msg} }

func isUsageError(err error) bool {
	var u usageError
	if errors.As(err, &u) {
		return true
	}
	// cobra reports flag and argument problems as plain errors; recognise its wording.
	msg := err.Error()
	for _, p := range []string{"unknown flag", "unknown shorthand flag", "unknown command", "invalid argument", "flag needs an argument", "accepts ", "requires at least", "required flag"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "lifeline",
		Short: "A recovery console for Microsoft Entra ID tenants",
		Long: `lifeline keeps an external, versioned copy of an Entra ID tenant, shows what changed
and what depends on what, and puts the tenant back through Microsoft Graph.

Credentials come from the environment (AZURE_TENANT_ID, AZURE_CLIENT_ID and
AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH). Against a simulated tenant
('lifeline sim serve'), --graph-url http://127.0.0.1:PORT/v1.0 alone is enough.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usagef(err.Error()) })
	root.AddCommand(
		newSimCommand(stdout, stderr),
		newCaptureCommand(stdout, stderr),
		newSnapshotsCommand(stdout),
		newDiffCommand(stdout, stderr),
		newGraphCommand(stdout),
		newBinCommand(stdout, stderr),
		newDemoCommand(stdout, stderr),
		newPlanCommand(stdout, stderr),
		newTUICommand(stdout, stderr),
		newDrillCommand(stdout, stderr),
		newVerifyCommand(stdout, stderr),
		newApplyCommand(stdout, stderr),
		newLedgerCommand(stdout),
	)
	return root
}
