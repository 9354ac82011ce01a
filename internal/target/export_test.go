package target

// SealURL seals a template URL as the ledger keeps it, for the tests of kept templates.
var SealURL = sealURL
