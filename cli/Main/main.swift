import CertctlCLICore

// Thin executable: parsing, running and exit statuses live in CertctlCLICore (docs/cli.md).
await CertctlMain.run()
