package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/lifelinehq/lifeline/entra"
)

// The incidents, composed from the building blocks in drill_steps.go. Each block draws
// from a stream labelled with the incident's name, so kitchen-sink makes the same choices
// each incident would make alone on the same state.

func runMassUserDeletion(ctx context.Context, in *injector) error {
	return in.deleteUsers(ctx, "mass-user-deletion", drillShare{1.0 / 3, 1}, true)
}

func runGroupPurge(ctx context.Context, in *injector) error {
	return in.deleteGroups(ctx, "group-purge", drillShare{0.5, 1}, true)
}

func runAppDeletion(ctx context.Context, in *injector) error {
	return in.deleteApps(ctx, "app-deletion", drillShare{1.0 / 3, 1}, drillShare{0.5, 1})
}

var drillCATampering = drillCAOptions{
	deletePolicies: drillShare{0.25, 2}, deleteLocations: drillShare{1.0 / 3, 1}, purge: true,
	breakGlass: drillShare{1, 0}, reportOnly: drillShare{1.0 / 3, 1}, disable: drillShare{1.0 / 6, 1}, weaken: drillShare{0.5, 1},
	lockout: true,
}

func runCATampering(ctx context.Context, in *injector) error {
	return in.tamperCA(ctx, "ca-tampering", drillCATampering)
}

func runAttributeTampering(ctx context.Context, in *injector) error {
	if err := in.tamperAttributes(ctx, "attribute-tampering", drillShare{0.25, 1}); err != nil {
		return err
	}
	if err := in.plantBackdoor(ctx, "attribute-tampering", drillShare{1, 1}); err != nil {
		return err
	}
	return in.takeOwnership(ctx, "attribute-tampering", drillShare{1.0 / 3, 1}, drillShare{1.0 / 3, 1})
}

func runKitchenSink(ctx context.Context, in *injector) error {
	for _, run := range []func(context.Context, *injector) error{
		runAttributeTampering, runCATampering, runAppDeletion, runGroupPurge, runMassUserDeletion,
	} {
		if err := run(ctx, in); err != nil {
			return err
		}
	}
	return nil
}

// runSlowBurn spreads a smaller incident over 40 days of the sim's clock. Everything it
// sends to a recycle bin goes in the first 8 days, so that by day 40 the tenant has
// purged it all (the bins keep objects 30 days) and it can only be recreated.
func runSlowBurn(ctx context.Context, in *injector) error {
	steps := []struct {
		advance time.Duration
		day     string
		do      func() error
	}{
		{0, "day 0", func() error { return in.plantBackdoor(ctx, "slow-burn/day0", drillShare{0, 1}) }},
		{24 * time.Hour, "day 1", func() error {
			return in.deleteUsers(ctx, "slow-burn/day1", drillShare{1.0 / 12, 1}, false)
		}},
		{72 * time.Hour, "day 4", func() error {
			if err := in.deleteGroups(ctx, "slow-burn/day4", drillShare{1.0 / 3, 1}, false); err != nil {
				return err
			}
			return in.deleteApps(ctx, "slow-burn/day4", drillShare{0.25, 1}, drillShare{0, 0})
		}},
		{96 * time.Hour, "day 8", func() error {
			if err := in.deleteUsers(ctx, "slow-burn/day8", drillShare{1.0 / 12, 1}, true); err != nil {
				return err
			}
			return in.tamperCA(ctx, "slow-burn/day8", drillCAOptions{deletePolicies: drillShare{0, 1}, deleteLocations: drillShare{0, 1}})
		}},
		{168 * time.Hour, "day 15", func() error {
			return in.tamperCA(ctx, "slow-burn/day15", drillCAOptions{breakGlass: drillShare{0.5, 1}, reportOnly: drillShare{0, 1}, weaken: drillShare{0, 1}})
		}},
		{240 * time.Hour, "day 25", func() error {
			return in.tamperAttributes(ctx, "slow-burn/day25", drillShare{0.1, 1})
		}},
		{192 * time.Hour, "day 33", func() error {
			return in.takeOwnership(ctx, "slow-burn/day33", drillShare{1.0 / 6, 1}, drillShare{1.0 / 6, 1})
		}},
		{169 * time.Hour, "day 40", in.noteExpired(ctx)},
	}
	for _, s := range steps {
		if s.advance > 0 {
			if err := in.advance(ctx, s.advance, ", "+s.day+" of the incident"); err != nil {
				return err
			}
		}
		if err := s.do(); err != nil {
			return err
		}
	}
	return nil
}

// binSource is one recycle bin as the attacker reads it.
var drillBins = []struct {
	kind string
	path string
	beta bool
}{
	{string(entra.KindUser), "/directory/deletedItems/microsoft.graph.user", false},
	{string(entra.KindGroup), "/directory/deletedItems/microsoft.graph.group", false},
	{string(entra.KindApplication), "/directory/deletedItems/microsoft.graph.application", false},
	{string(entra.KindServicePrincipal), "/directory/deletedItems/microsoft.graph.servicePrincipal", false},
	{string(entra.KindConditionalAccessPolicy), "/identity/conditionalAccess/deletedItems/policies", true},
	{string(entra.KindNamedLocation), "/identity/conditionalAccess/deletedItems/namedLocations", true},
}

// noteExpired checks that the tenant purged everything the incident sent to a recycle
// bin, and reports it as expired.
func (in *injector) noteExpired(ctx context.Context) func() error {
	return func() error {
		left := 0
		for _, b := range drillBins {
			items, err := in.list(ctx, b.path, []string{"id"}, b.beta)
			if err != nil {
				return err
			}
			for _, o := range items {
				if _, ok := in.binned[dstr(o, "id")]; ok {
					left++
				}
			}
		}
		if left > 0 {
			return fmt.Errorf("after 40 days the simulated tenant still holds %d of the objects the incident deleted in its recycle bins, so its retention did not run", left)
		}
		byKind := map[string][]string{}
		for _, id := range drillKeys(in.binned) {
			byKind[in.binned[id]] = append(byKind[in.binned[id]], id)
		}
		nouns := map[string][2]string{
			string(entra.KindUser): {"user", "users"}, string(entra.KindGroup): {"group", "groups"},
			string(entra.KindApplication): {"application", "applications"}, string(entra.KindServicePrincipal): {"service principal", "service principals"},
			string(entra.KindConditionalAccessPolicy): {"Conditional Access policy", "Conditional Access policies"},
			string(entra.KindNamedLocation):           {"named location", "named locations"},
		}
		for _, b := range drillBins {
			ids := byKind[b.kind]
			n := nouns[b.kind]
			in.rep.add("expire", b.kind, ids, fmt.Sprintf("The tenant purged the %s deleted early on: past the 30-day retention they are out of the recycle bin and can only be recreated.",
				drillPlural(len(ids), n[0], n[1])))
		}
		in.binned = map[string]string{}
		return nil
	}
}
