package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lifelinehq/lifeline/tui"
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

// groupCommand is the RunE of a command that only groups others ("lifeline snapshots"):
// alone it prints its help; with an argument that names none of them it is a usage
// error (cobra would print the help and exit 0).
func groupCommand(uses string) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usagef(fmt.Sprintf("unknown command %q for %q: use %s", args[0], cmd.CommandPath(), uses))
		}
		return cmd.Help()
	}
}

// oneArg accepts exactly one argument, and when it is missing or there are more says
// what it is (what: "a snapshot: its id, its exact label or latest") instead of cobra's
// "accepts 1 arg(s), received 0".
func oneArg(what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) == 0:
			return usagef(fmt.Sprintf("'%s' needs %s", cmd.CommandPath(), what))
		case len(args) > 1:
			return usagef(fmt.Sprintf("'%s' takes one argument, %s, but was given %d (%s); quote a name with spaces", cmd.CommandPath(), what, len(args), strings.Join(args, " ")))
		}
		return nil
	}
}

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
	var (
		db       string
		readOnly bool
	)
	root := &cobra.Command{
		Use:   "lifeline",
		Short: "A recovery console for Microsoft Entra ID tenants",
		Long: `lifeline keeps an external, versioned copy of an Entra ID tenant, shows what changed
and what depends on what, and puts the tenant back through Microsoft Graph.

Credentials come from the environment (AZURE_TENANT_ID, AZURE_CLIENT_ID and
AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH). Against a simulated tenant
('lifeline sim serve'), --graph-url http://127.0.0.1:PORT/v1.0 alone is enough.

With no command, lifeline opens the console: on the embedded demo tenant when
nothing is configured, live against LIFELINE_GRAPH_URL (or the AZURE_*
credentials) on the snapshot file --db names, or offline on --db alone.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDefault(cmd, stdout, stderr, db, readOnly)
		},
	}
	root.Flags().StringVar(&db, "db", "", "snapshot file for the console")
	root.Flags().BoolVar(&readOnly, "read-only", false, "never write to the tenant")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usagef(flagProblem(err)) })
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

// badFlagValue matches pflag's sentence for a value its type cannot parse.
var badFlagValue = regexp.MustCompile(`^invalid argument "(.*)" for "(-\w, )?(--[\w-]+)" flag: strconv\.Parse(\w+)`)

// flagProblem says what is wrong with a flag in the operator's terms: pflag's
// sentence for a value it cannot parse quotes Go's strconv ("strconv.ParseFloat:
// parsing ...: invalid syntax"), which names no fix.
func flagProblem(err error) string {
	m := badFlagValue.FindStringSubmatch(err.Error())
	if m == nil {
		return err.Error()
	}
	want, ok := map[string]string{"Float": "a number (such as 0.5)", "Bool": "true or false", "Int": "a whole number", "Uint": "a whole number"}[m[4]]
	if !ok {
		return err.Error()
	}
	return fmt.Sprintf("%s %q: expected %s", m[3], m[1], want)
}

// runDefault is plain 'lifeline': the console, wherever the environment points.
func runDefault(cmd *cobra.Command, stdout, stderr io.Writer, db string, readOnly bool) error {
	ctx := cmd.Context()
	configured := os.Getenv("LIFELINE_GRAPH_URL") != ""
	for _, v := range []string{"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH"} {
		configured = configured || os.Getenv(v) != ""
	}
	switch {
	case configured && db == "":
		return usagef("a tenant is configured (LIFELINE_GRAPH_URL or AZURE_*), so the console opens live and needs the snapshot file: pass --db FILE")
	case configured:
		s, client, readOnly, err := openLive(ctx, db, "", readOnly, stderr)
		if err != nil {
			return err
		}
		defer s.Close()
		return runConsole(ctx, cmd.InOrStdin(), stdout, tui.Options{Store: s, Path: db, Client: client, ReadOnly: readOnly}, false)
	case db != "":
		s, err := openStore(ctx, db, false)
		if err != nil {
			return err
		}
		defer s.Close()
		return runConsole(ctx, cmd.InOrStdin(), stdout, tui.Options{Store: s, Path: db, ReadOnly: true}, false)
	case !isTerminalWriter(stdout):
		// Scripts and pipes get the usage, not a console they cannot drive.
		return cmd.Help()
	}
	return runDemo(ctx, cmd.InOrStdin(), stdout, "127.0.0.1:0", true, readOnly)
}
