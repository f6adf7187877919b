/** SQLSTATE codes dbtape raises itself (PostgreSQL docs, Appendix A). */
export const SqlState = {
  ProtocolViolation: '08P01',
  ConnectionFailure: '08006',
  SqlclientUnableToEstablishSqlconnection: '08001',
  InvalidAuthorizationSpecification: '28000',
  InvalidPassword: '28P01',
  InvalidCatalogName: '3D000',
  FeatureNotSupported: '0A000',
  TooManyConnections: '53300',
  AdminShutdown: '57P01',
  InsufficientPrivilege: '42501',
  QueryCanceled: '57014',
  InternalError: 'XX000',
  IoError: '58030',
} as const;
