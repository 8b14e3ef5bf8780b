package snapshots_test

import (
	"context"
	"strings"
	"testing"
	"time"

	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/lifelinehq/lifeline/entra"
)

// BenchmarkCaptureTypedSDK is the comparison the capture benchmarks are read against:
// what a user would write with msgraph-sdk-go alone. Typed models and the SDK's page
// iterator over /users (with $select of every user property lifeline knows, 999 a
// page), then /groups the same way, then each group's members with one request per
// group, one collection at a time, against the same unthrottled 100,000-user simulated
// tenant and through the same client (so the same transport). It stores nothing: the
// objects are decoded into typed models and dropped, a lower bound on such a tool's
// cost. Compare its objects/s with BenchmarkCapture100k's.
func BenchmarkCaptureTypedSDK(b *testing.B) {
	_, client := benchSim(b, 100_000)
	sdk := client.SDK()
	ctx := context.Background()
	top := int32(999)
	userSelect := strings.Split(entra.MustLookup(entra.KindUser).Select(), ",")
	groupSelect := strings.Split(entra.MustLookup(entra.KindGroup).Select(), ",")
	var objects, links int
	var took time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		objects, links = 0, 0
		start := time.Now()
		ur, err := sdk.Users().Get(ctx, &users.UsersRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Select: userSelect, Top: &top}})
		if err != nil {
			b.Fatal(err)
		}
		ui, err := msgraphcore.NewPageIterator[models.Userable](ur, sdk.GetAdapter(), models.CreateUserCollectionResponseFromDiscriminatorValue)
		if err != nil {
			b.Fatal(err)
		}
		if err := ui.Iterate(ctx, func(u models.Userable) bool { objects++; return true }); err != nil {
			b.Fatal(err)
		}
		gr, err := sdk.Groups().Get(ctx, &groups.GroupsRequestBuilderGetRequestConfiguration{
			QueryParameters: &groups.GroupsRequestBuilderGetQueryParameters{Select: groupSelect, Top: &top}})
		if err != nil {
			b.Fatal(err)
		}
		gi, err := msgraphcore.NewPageIterator[models.Groupable](gr, sdk.GetAdapter(), models.CreateGroupCollectionResponseFromDiscriminatorValue)
		if err != nil {
			b.Fatal(err)
		}
		var ids []string
		if err := gi.Iterate(ctx, func(g models.Groupable) bool {
			objects++
			ids = append(ids, *g.GetId())
			return true
		}); err != nil {
			b.Fatal(err)
		}
		for _, id := range ids {
			mr, err := sdk.Groups().ByGroupId(id).Members().Get(ctx, &groups.ItemMembersRequestBuilderGetRequestConfiguration{
				QueryParameters: &groups.ItemMembersRequestBuilderGetQueryParameters{Select: []string{"id"}, Top: &top}})
			if err != nil {
				b.Fatal(err)
			}
			mi, err := msgraphcore.NewPageIterator[models.DirectoryObjectable](mr, sdk.GetAdapter(), models.CreateDirectoryObjectCollectionResponseFromDiscriminatorValue)
			if err != nil {
				b.Fatal(err)
			}
			if err := mi.Iterate(ctx, func(models.DirectoryObjectable) bool { links++; return true }); err != nil {
				b.Fatal(err)
			}
		}
		took += time.Since(start)
	}
	b.StopTimer()
	b.ReportMetric(float64(objects)*float64(b.N)/took.Seconds(), "objects/s")
	b.ReportMetric(float64(links), "links")
	b.ReportMetric(took.Seconds()/float64(b.N), "s/capture")
}
