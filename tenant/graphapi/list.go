package graphapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// ListOptions shape a collection read. lifeline selects every property it knows
// (entra's Spec.Select) so nothing is lost to default property sets.
type ListOptions struct {
	// Select is $select; Filter is $filter; Expand is $expand.
	Select []string
	Filter string
	// Top is $top, the page size (Graph's directory maximum is 999).
	Top int
	// Count asks for @odata.count ($count=true; advanced queries also need the
	// ConsistencyLevel: eventual header).
	Count  bool
	Expand string
	// Headers are sent with every page, not only the first (ConsistencyLevel must be).
	Headers map[string]string
	// Beta reads from the beta endpoint.
	Beta bool
}

// Page is one page of a collection, items as raw JSON.
type Page struct {
	Items []json.RawMessage
	// Count is @odata.count, present on the first page only and only when asked for.
	Count *int64
	// NextLink and DeltaLink are the page's @odata.nextLink and @odata.deltaLink.
	NextLink, DeltaLink string
}

// List streams a collection page by page to fn, following @odata.nextLink verbatim and
// resending opts.Headers on every page (the SDK's page iterator drops them, graph-spec §1.3).
// It returns the final @odata.deltaLink for delta queries. An error from fn stops the walk
// and is returned as is.
func (c *Client) List(ctx context.Context, path string, opts ListOptions, fn func(Page) error) (string, error) {
	u, err := c.ep.resolve(appendQuery(path, opts), opts.Beta)
	if err != nil {
		return "", fmt.Errorf("GET %s: %v.", path, err)
	}
	return c.walk(ctx, u, opts.Headers, fn)
}

// ListURL is List from an absolute URL on the graph host: a saved @odata.deltaLink or
// @odata.nextLink.
func (c *Client) ListURL(ctx context.Context, absoluteURL string, headers map[string]string, fn func(Page) error) (string, error) {
	u, err := c.absolute(absoluteURL)
	if err != nil {
		return "", err
	}
	return c.walk(ctx, u, headers, fn)
}

func (c *Client) walk(ctx context.Context, u *url.URL, headers map[string]string, fn func(Page) error) (string, error) {
	delta := ""
	seen := map[string]bool{}
	for u != nil {
		raw, err := c.exchange(ctx, http.MethodGet, u, nil, headers)
		if err != nil {
			return "", err
		}
		if raw.status < 200 || raw.status > 299 {
			return "", newStatusError(http.MethodGet, c.ep.display(u), raw.status, raw.header, raw.body, c.now())
		}
		page, err := decodePage(raw.body)
		if err != nil {
			return "", newBodyError(http.MethodGet, c.ep.display(u), raw.status, raw.header, err.Error())
		}
		if err := fn(page); err != nil {
			return "", err
		}
		if page.DeltaLink != "" {
			delta = page.DeltaLink
		}
		if page.NextLink == "" {
			break
		}
		if seen[page.NextLink] {
			return "", newBodyError(http.MethodGet, c.ep.display(u), raw.status, raw.header,
				"with a nextLink it had already sent, which would page forever")
		}
		seen[page.NextLink] = true
		next, err := c.absolute(page.NextLink)
		if err != nil {
			return "", newBodyError(http.MethodGet, c.ep.display(u), raw.status, raw.header,
				"with a nextLink lifeline will not follow ("+err.Error()+")")
		}
		u = next
	}
	return delta, nil
}

// absolute parses a link Graph handed out. Links must be absolute and on the graph host:
// following one elsewhere would send the operator's requests to somebody else.
func (c *Client) absolute(link string) (*url.URL, error) {
	u, err := url.Parse(link)
	if err != nil || !u.IsAbs() {
		return nil, fmt.Errorf("%q is not an absolute URL", cleanText(link, 100))
	}
	return c.ep.resolve(link, false)
}

// pageBody is a collection response (graph-spec §4.5).
type pageBody struct {
	Value     *[]json.RawMessage `json:"value"`
	Count     *int64             `json:"@odata.count"`
	NextLink  string             `json:"@odata.nextLink"`
	DeltaLink string             `json:"@odata.deltaLink"`
}

// pageProblem is a collection body lifeline cannot use, described for an *Error.
type pageProblem string

func (p pageProblem) Error() string { return string(p) }

func decodePage(body []byte) (Page, error) {
	if p, ok, err := splitPage(body); err == nil && ok {
		return p, nil
	}
	// Not a plain collection page: let encoding/json find the words for what is wrong.
	return decodePageStd(body)
}

// decodePageStd is decodePage by encoding/json: the reference splitPage is held to, and
// the source of error messages.
func decodePageStd(body []byte) (Page, error) {
	var b pageBody
	if err := json.Unmarshal(body, &b); err != nil {
		return Page{}, pageProblem(jsonProblem(body, err))
	}
	if b.Value == nil {
		return Page{}, pageProblem("with JSON that is not a collection (no \"value\" array)")
	}
	return Page{Items: *b.Value, Count: b.Count, NextLink: b.NextLink, DeltaLink: b.DeltaLink}, nil
}

// appendQuery adds the OData options to a path that may already carry a query. Values are
// percent-encoded with %20 for spaces: Graph reads "+" in $filter literally.
func appendQuery(path string, o ListOptions) string {
	var q []string
	if len(o.Select) > 0 {
		q = append(q, "$select="+escapeValue(strings.Join(o.Select, ",")))
	}
	if o.Filter != "" {
		q = append(q, "$filter="+escapeValue(o.Filter))
	}
	if o.Top > 0 {
		q = append(q, "$top="+strconv.Itoa(o.Top))
	}
	if o.Count {
		q = append(q, "$count=true")
	}
	if o.Expand != "" {
		q = append(q, "$expand="+escapeValue(o.Expand))
	}
	if len(q) == 0 {
		return path
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + strings.Join(q, "&")
}

func escapeValue(v string) string {
	return strings.ReplaceAll(url.QueryEscape(v), "+", "%20")
}
