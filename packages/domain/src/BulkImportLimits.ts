/**
 * Limits of one `POST /users/bulk` request. The bulk endpoint has its own body cap, above the
 * API's general 1 MiB, because a full batch of long rows can exceed that. In a module of its own
 * so the CLI's option help can name the row limit without loading the API's schemas.
 */
export const bulkImportLimits = {
  maxRows: 5_000,
  maxBodyBytes: 8 * 1024 * 1024
} as const
