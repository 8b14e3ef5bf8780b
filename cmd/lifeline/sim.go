package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/spf13/cobra"

	"github.com/lifelinehq/lifeline/tenant/sim"
)

func newSimCommand(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run a simulated Entra ID tenant that speaks Microsoft Graph",
		Args:  cobra.ArbitraryArgs,
		RunE:  groupCommand("serve"),
	}
	cmd.AddCommand(newSimServeCommand(stdout, stderr))
	return cmd
}

func newSimServeCommand(stdout, stderr io.Writer) *cobra.Command {
	var (
		addr     string
		users    int
		seed     int64
		throttle string
		stateDir string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve a generated tenant over Graph's REST protocol on loopback",
		Long: `Serve a simulated tenant generated from --seed and --users.

The first line on stdout is one JSON object: graph_url, token_url, tenant_id,
client_id and client_secret. Logs go to stderr. SIGTERM or Ctrl-C shuts it down,
saving the directory to --state when given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			mode, err := sim.ParseThrottleMode(throttle)
			if err != nil {
				return usagef(err.Error())
			}
			if users < 10 || users > 1_000_000 {
				return usagef(fmt.Sprintf("--users %d is out of range: a simulated tenant has between 10 and 1000000 users", users))
			}
			// Said before a large tenant is generated, not a minute after.
			if _, err := net.ResolveTCPAddr("tcp", addr); err != nil {
				return usagef(fmt.Sprintf("--addr %s is not a host:port address (%v); for example 127.0.0.1:8080, or 127.0.0.1:0 for any free port", addr, err))
			}
			logger := slog.New(slog.NewTextHandler(stderr, nil))
			ds, err := sim.Generate(sim.GenerateOptions{Users: users, Seed: seed})
			if err != nil {
				return err
			}
			s, err := sim.New(ds, sim.Options{Throttle: mode, StateDir: stateDir, Logger: logger})
			if err != nil {
				return err
			}
			srv, err := s.Start(addr)
			if err != nil {
				return fmt.Errorf("cannot serve the simulated tenant (%w); pick another --addr, such as 127.0.0.1:0 for a free port", err)
			}
			line, err := json.Marshal(srv.Info())
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, string(line))
			logger.Info("simulated tenant ready", "graph_url", srv.Info().GraphURL, "users", users, "seed", seed, "throttle", string(mode))
			<-cmd.Context().Done()
			logger.Info("shutting down")
			return srv.Close()
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", "127.0.0.1:8080", "address to listen on (loopback)")
	f.IntVar(&users, "users", 200, "number of users in the generated tenant (10 to 1000000)")
	f.Int64Var(&seed, "seed", 1, "seed of the generated tenant: the same seed gives the same tenant")
	f.StringVar(&throttle, "throttle", "realistic", "throttling: off, or realistic (Graph's published budgets)")
	f.StringVar(&stateDir, "state", "", "directory to load the tenant from and save it to on shutdown")
	return cmd
}
