export { ShotgunClient } from './client.ts';
export {
  ShotgunFault,
  AuthenticationFault,
  MissingTwoFactorAuthenticationFault,
  UserCredentialsNotAllowedForSSOAuthenticationFault,
  UserCredentialsNotAllowedForOxygenAuthenticationFault,
  ShotgunTransportError,
  ShotgunClientError,
  faultFor,
} from './errors.ts';
export type { ShotgunTransportCode, ShotgunClientErrorCode } from './errors.ts';
export { translateFilters, optimizeEntityValue } from './filters.ts';
export { formatDateTime, parseDateTime, transformInbound, transformOutbound } from './values.ts';
export { apiUrl, USER_AGENT } from './transport.ts';
export { api3Proxy, proxyUrl, siteDispatcher } from './proxy.ts';
export type {
  BatchRequest,
  BatchResult,
  EntityLink,
  EntityRecord,
  FieldValue,
  Filter,
  FilterGroup,
  FilterOperator,
  Filters,
  FindOneOptions,
  FindOptions,
  GroupingItem,
  OrderItem,
  SchemaResult,
  ServerInfo,
  ShotgunAuth,
  ShotgunClientOptions,
  ShotgunViewOptions,
  SummarizeOptions,
  SummarizeResult,
  SummaryField,
  SummaryGroup,
  UpdateOptions,
  WireCondition,
  WireFilterGroup,
} from './types.ts';
