package shmmetrics

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
)

// The "parse" cases of tests/vectors/exposition.json, the rule every exporter shares.
func TestParseNameVectors(t *testing.T) {
	raw, err := os.ReadFile("../../tests/vectors/exposition.json")
	if err != nil {
		t.Fatal(err)
	}
	var vectors struct {
		Parse []struct {
			Name   string            `json:"name"`
			Base   string            `json:"base"`
			Labels map[string]string `json:"labels"`
		} `json:"parse"`
	}
	if err := json.Unmarshal(raw, &vectors); err != nil {
		t.Fatal(err)
	}
	if len(vectors.Parse) == 0 {
		t.Fatal("no parse vectors")
	}
	for _, v := range vectors.Parse {
		base, labels := ParseName(v.Name)
		got := map[string]string{}
		for _, l := range labels {
			got[l.Name] = l.Value
		}
		if base != v.Base || !reflect.DeepEqual(got, v.Labels) {
			t.Errorf("ParseName(%q) = %q %v, want %q %v", v.Name, base, got, v.Base, v.Labels)
		}
	}
}

func TestParseNameKeepsLabelOrder(t *testing.T) {
	_, labels := ParseName(`m{b="1",a="2",c="3"}`)
	if !reflect.DeepEqual(labels, []Label{{"b", "1"}, {"a", "2"}, {"c", "3"}}) {
		t.Fatalf("%v", labels)
	}
}
