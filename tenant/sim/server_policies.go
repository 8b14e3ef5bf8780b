package sim

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/lifelinehq/lifeline/entra"
)

// authMethods handles /policies/authenticationMethodsPolicy and its configurations.
func (c *call) authMethods(rest []string) (*result, *apiError) {
	o := c.st.get(entra.KindAuthenticationMethodsPolicy, "authenticationMethodsPolicy")
	if o == nil {
		return nil, notFound("authenticationMethodsPolicy")
	}
	if len(rest) == 0 {
		switch c.method {
		case http.MethodGet:
			return c.entity(o, "policies/authenticationMethodsPolicy", "", c.selectOf())
		case http.MethodPatch:
			wb, err := c.writeBodyOf(o.kind, false)
			if err != nil {
				return nil, err
			}
			if err := c.st.update(o, wb, c.now, c.who); err != nil {
				return nil, err
			}
			return noContent(), nil
		}
		return nil, methodNotAllowed()
	}
	if rest[0] != "authenticationMethodConfigurations" || len(rest) > 2 {
		return nil, segmentNotFound(rest[len(rest)-1])
	}
	var configs []map[string]any
	_ = json.Unmarshal(getMember(o.data, "authenticationMethodConfigurations"), &configs)
	if len(rest) == 1 {
		if c.method != http.MethodGet {
			return nil, methodNotAllowed()
		}
		body := []byte(`{"@odata.context":`)
		body = strconv.AppendQuote(body, c.root+"/$metadata#policies/authenticationMethodsPolicy/authenticationMethodConfigurations")
		body = append(body, `,"value":`...)
		body = append(body, mustJSON(nonNil(configs))...)
		return jsonResult(200, append(body, '}')), nil
	}
	idx := -1
	for i, cfg := range configs {
		if id, _ := cfg["id"].(string); id == rest[1] {
			idx = i
		}
	}
	if idx < 0 {
		return nil, notFound(rest[1])
	}
	cfg := configs[idx]
	switch c.method {
	case http.MethodGet:
		out := map[string]any{"@odata.context": c.root + "/$metadata#policies/authenticationMethodsPolicy/authenticationMethodConfigurations/$entity"}
		for k, v := range cfg {
			out[k] = v
		}
		return jsonResult(200, mustJSON(out)), nil
	case http.MethodPatch:
		m, err := parseBody(c.body)
		if err != nil {
			return nil, err
		}
		var t string
		if raw, ok := m["@odata.type"]; !ok || json.Unmarshal(raw, &t) != nil || t == "" {
			return nil, badRequest("The @odata.type property is required when updating an authentication method configuration.")
		}
		if want, _ := cfg["@odata.type"].(string); t != want {
			return nil, badRequest("The @odata.type '%s' does not match the configuration's type '%s'.", t, want)
		}
		next := map[string]any{}
		for k, v := range cfg {
			next[k] = v
		}
		for k, raw := range m {
			switch k {
			case "@odata.type":
				continue
			case "id":
				return nil, badRequest("Property 'id' is read-only and cannot be set.")
			case "state":
				var st string
				if json.Unmarshal(raw, &st) != nil || (st != "enabled" && st != "disabled") {
					return nil, badRequest("Invalid value for property 'state': it must be 'enabled' or 'disabled'.")
				}
			case "includeTargets", "excludeTargets":
				var targets []map[string]any
				if json.Unmarshal(raw, &targets) != nil {
					return nil, badRequest("Cannot convert the literal to the expected type 'Collection' of property '%s'.", k)
				}
			}
			next[k] = decodeRaw(raw)
		}
		all := make([]any, len(configs))
		for i := range configs {
			all[i] = configs[i]
		}
		all[idx] = next
		wb := &writeBody{props: map[string]json.RawMessage{"authenticationMethodConfigurations": mustJSON(all)}}
		if err := c.st.update(o, wb, c.now, c.who); err != nil {
			return nil, err
		}
		return noContent(), nil
	}
	return nil, methodNotAllowed()
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
