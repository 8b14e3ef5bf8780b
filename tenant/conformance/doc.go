// Package conformance holds the suite that drives lifeline's simulated tenant through
// lifeline's real Graph client (msgraph-sdk-go and azidentity over loopback), for every
// behaviour docs/graph-spec.md §11 asks of it: authentication, paging, $select,
// $filter, $count, error shapes, writes and bad input, links, recycle bins, delta, the
// audit log, $batch and throttling. It has no code of its own outside its tests.
package conformance
