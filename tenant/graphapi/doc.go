// Package graphapi is lifeline's only door to a tenant: every byte lifeline exchanges with
// Microsoft Graph, or with a simulated tenant on loopback, goes through a Client.
//
// The client is built on msgraph-sdk-go's GraphRequestAdapter and its middleware pipeline
// (telemetry, retry with Retry-After, gzip request bodies, redirects, ...) and on azidentity
// for tokens, so the code that talks to the simulated tenant in a drill is the code that
// talks to Microsoft Graph in an incident. Two middlewares of lifeline's own sit at the
// innermost end of that pipeline, so they see every attempt, retries included: a pacer that
// spends no more than a fraction of Graph's published throttling budget (graph-spec §5), and
// a recorder that feeds the console's call log.
//
// lifeline stores Graph's raw JSON, so the main API moves raw JSON: List streams collection
// pages, Do and Batch send requests, Raw reaches the simulated tenant's control surface.
// The typed SDK client (SDK) shares the same adapter and pipeline for callers that prefer
// models at the edges.
//
// Failures come back as *Error values whose Error method is one sentence an operator can
// act on; tokens and secrets never appear in errors, calls or logs.
package graphapi
