package testkit

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// Set sets the field of *cfg (a pointer to a config struct) whose koanf
// tag is key, so that tests name the documented, stable config keys. A
// dotted key ("listeners.tcp.address") is a path; a plain key is looked up
// anywhere in the struct tree (so a limit may live in a nested section).
// Numbers are converted to the field's type; a time.Duration goes only
// into a time.Duration field. A key that is not there fails the test.
func Set(t testing.TB, cfg any, key string, v any) {
	t.Helper()
	f, ok := findKey(reflect.ValueOf(cfg).Elem(), strings.Split(key, "."))
	if !ok {
		t.Fatalf("config key %q not found in %T", key, cfg)
	}
	val := reflect.ValueOf(v)
	durType := reflect.TypeOf(time.Duration(0))
	switch {
	case val.Type() == f.Type():
		f.Set(val)
	case val.Type() == durType || f.Type() == durType:
		t.Fatalf("config key %q has type %v; test passes %T", key, f.Type(), v)
	case val.CanConvert(f.Type()):
		f.Set(val.Convert(f.Type()))
	default:
		t.Fatalf("config key %q has type %v; cannot set %T", key, f.Type(), v)
	}
}

func findKey(v reflect.Value, path []string) (reflect.Value, bool) {
	if v.Kind() != reflect.Struct {
		return reflect.Value{}, false
	}
	typ := v.Type()
	for i := range typ.NumField() {
		if tag := strings.Split(typ.Field(i).Tag.Get("koanf"), ",")[0]; tag == path[0] {
			if len(path) == 1 {
				return v.Field(i), true
			}
			return findKey(v.Field(i), path[1:])
		}
	}
	if len(path) == 1 { // search nested sections
		for i := range typ.NumField() {
			if typ.Field(i).IsExported() && v.Field(i).Kind() == reflect.Struct {
				if f, ok := findKey(v.Field(i), path); ok {
					return f, true
				}
			}
		}
	}
	return reflect.Value{}, false
}
