package jiraexport

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// checkEdmValue reports whether the non-null JSON value raw is a valid
// value of the EDM type typ (OData JSON format: integers as numbers,
// DateTimeOffset as RFC 3339 strings).
func checkEdmValue(typ string, raw json.RawMessage) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return err
	}
	switch typ {
	case "Edm.String":
		if _, ok := v.(string); !ok {
			return fmt.Errorf("not a string")
		}
	case "Edm.Boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("not a boolean")
		}
	case "Edm.Int32", "Edm.Int64":
		n, ok := v.(json.Number)
		if !ok {
			return fmt.Errorf("not a number")
		}
		i, err := n.Int64()
		if err != nil {
			return fmt.Errorf("not an integer")
		}
		if typ == "Edm.Int32" && (i < math.MinInt32 || i > math.MaxInt32) {
			return fmt.Errorf("out of the Int32 range")
		}
	case "Edm.Double":
		n, ok := v.(json.Number)
		if !ok {
			return fmt.Errorf("not a number")
		}
		if _, err := n.Float64(); err != nil {
			return err
		}
	case "Edm.DateTimeOffset":
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("not a string")
		}
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			return err
		}
	case "Collection(Edm.String)":
		l, ok := v.([]any)
		if !ok {
			return fmt.Errorf("not an array")
		}
		for _, e := range l {
			if _, ok := e.(string); !ok {
				return fmt.Errorf("element %v is not a string", e)
			}
		}
	default:
		return fmt.Errorf("type %s is not known to the test", typ)
	}
	return nil
}
