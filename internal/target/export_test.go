package target

// SealURL seals a template URL as the ledger keeps it, for the tests of kept templates.
var SealURL = sealURL

// BucketOf is the bucket of an S3 URL.
var BucketOf = bucketOf
