module github.com/example/ledger

go 1.21

toolchain go1.21.5

require (
	github.com/gin-gonic/gin v1.9.0
	github.com/pkg/errors v0.9.1
	github.com/stretchr/testify v1.8.4
	golang.org/x/crypto v0.0.0-20200622213623-75b288015ac9
	gopkg.in/yaml.v2 v2.2.2
)

require (
	github.com/davecgh/go-spew v1.1.1 // indirect
	golang.org/x/net v0.7.0 // indirect
	golang.org/x/sys v0.5.0 // indirect
	golang.org/x/text v0.3.5 // indirect
	github.com/example/ledger-internal v0.0.0-00010101000000-000000000000 // indirect
)

require "github.com/dgrijalva/jwt-go" v3.2.0+incompatible

// The text package is pinned forward; the internal module comes from the tree.
replace golang.org/x/text => golang.org/x/text v0.14.0

replace github.com/example/ledger-internal => ../ledger-internal

exclude golang.org/x/net v0.6.0

retract v1.0.1 // published by mistake
