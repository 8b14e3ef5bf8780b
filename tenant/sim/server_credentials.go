package sim

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/lifelinehq/lifeline/entra"
)

// credentials serves addPassword and removePassword on an application or a service
// principal: the only way Graph lets a client secret be made or taken away, since
// passwordCredentials is read-only to PATCH. The secret is in addPassword's answer
// alone; the object keeps its metadata (keyId, hint, dates), as Graph's does.
func (c *call) credentials(o *object, action string) (*result, *apiError) {
	if c.method != http.MethodPost {
		return nil, methodNotAllowed()
	}
	m, err := parseBody(c.body)
	if err != nil {
		return nil, err
	}
	switch action {
	case "addPassword":
		var req struct {
			DisplayName   *string `json:"displayName"`
			EndDateTime   *string `json:"endDateTime"`
			StartDateTime *string `json:"startDateTime"`
		}
		if raw, ok := m["passwordCredential"]; ok && json.Unmarshal(raw, &req) != nil {
			return nil, badRequest("Invalid passwordCredential.")
		}
		secret, serr := newSecret()
		if serr != nil {
			return nil, newError(500, "UnknownError", "A secret could not be generated.")
		}
		cred := map[string]any{
			"customKeyIdentifier": nil, "displayName": req.DisplayName, "hint": secret[:3], "keyId": newGUID(),
			"startDateTime": formatSeconds(c.now), "endDateTime": formatSeconds(c.now.Add(2 * 365 * 24 * time.Hour)),
		}
		if req.StartDateTime != nil {
			cred["startDateTime"] = *req.StartDateTime
		}
		if req.EndDateTime != nil {
			cred["endDateTime"] = *req.EndDateTime
		}
		if err := c.st.setPasswords(o, func(creds []any) ([]any, *apiError) {
			stored := map[string]any{"secretText": nil}
			for k, v := range cred {
				stored[k] = v
			}
			return append(creds, stored), nil
		}, c.now, c.who); err != nil {
			return nil, err
		}
		cred["secretText"] = secret
		cred["@odata.context"] = c.root + "/$metadata#microsoft.graph.passwordCredential"
		return jsonResult(http.StatusOK, mustJSON(cred)), nil
	case "removePassword":
		var keyID string
		if raw, ok := m["keyId"]; !ok || json.Unmarshal(raw, &keyID) != nil || keyID == "" {
			return nil, badRequest("The keyId of the password credential to remove is required.")
		}
		if err := c.st.setPasswords(o, func(creds []any) ([]any, *apiError) {
			for i, cr := range creds {
				if cm, _ := cr.(map[string]any); cm != nil {
					if k, _ := cm["keyId"].(string); !strings.EqualFold(k, keyID) {
						continue
					}
					return append(creds[:i:i], creds[i+1:]...), nil
				}
			}
			return nil, newError(http.StatusNotFound, "Request_ResourceNotFound", "No password credential with keyId %s exists on the object.", keyID)
		}, c.now, c.who); err != nil {
			return nil, err
		}
		return noContent(), nil
	}
	return nil, segmentNotFound(action)
}

// setPasswords replaces o's passwordCredentials with what edit makes of them, and
// records the change as Graph audits it ("Update application – Certificates and
// secrets management").
func (st *store) setPasswords(o *object, edit func([]any) ([]any, *apiError), now time.Time, who actor) *apiError {
	m, derr := decodeObject(o.data)
	if derr != nil {
		return newError(500, "UnknownError", "The stored object could not be read.")
	}
	before := cloneJSON(m)
	creds, _ := m["passwordCredentials"].([]any)
	next, err := edit(creds)
	if err != nil {
		return err
	}
	if next == nil {
		next = []any{}
	}
	m["passwordCredentials"] = next
	data := mustJSON(m)
	changed := diffProperties(mustJSON(before), data)
	updated := &object{kind: o.kind, id: o.id, data: data}
	st.put(updated)
	st.logChange(now, updated, propNames(changed), "")
	activity := "Update application – Certificates and secrets management"
	if o.kind == entra.KindServicePrincipal {
		activity = "Update service principal"
	}
	st.record(now, who, activity, entra.MustLookup(o.kind).AuditCategory, "Update", "", targetOf(updated))
	return nil
}

// newSecret returns a client secret shaped as Graph's are: 40 characters.
func newSecret() (string, error) {
	b := make([]byte, 30)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return strings.NewReplacer("+", "~", "/", "_").Replace(base64.StdEncoding.EncodeToString(b)), nil
}
