package conformance

import (
	"context"
	"strings"
	"testing"

	"github.com/lifelinehq/lifeline/entra"
	"github.com/lifelinehq/lifeline/tenant/graphapi"
	"github.com/lifelinehq/lifeline/tenant/sim"
)

// BenchmarkSimListThroughClient measures the sim's list throughput as lifeline sees it:
// 100,000 users with every property selected, 999 per page, through the real client
// (msgraph-sdk-go's pipeline, gzip, pacer, call log) over loopback.
func BenchmarkSimListThroughClient(b *testing.B) {
	ds, err := sim.Generate(sim.GenerateOptions{Users: 100_000, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	s, err := sim.New(ds, sim.Options{Throttle: sim.ThrottleOff})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := s.Start("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	client, err := graphapi.New(context.Background(), graphapi.Config{GraphURL: srv.Info().GraphURL, Budget: unthrottled})
	if err != nil {
		b.Fatal(err)
	}
	sel := strings.Split(entra.MustLookup(entra.KindUser).Select(), ",")
	b.ResetTimer()
	total := 0
	for i := 0; i < b.N; i++ {
		if _, err := client.List(context.Background(), "/users", graphapi.ListOptions{Select: sel, Top: 999}, func(p graphapi.Page) error {
			total += len(p.Items)
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "objects/s")
}
