/** The policy's public surface: access grants, statement decisions, result masking. */
export { type Grant, grantFor, grantsOf } from './access.js';
export type {
  Classification,
  SettingChange,
  StatementFlag,
  StatementInfo,
  StatementKind,
  TableRef,
} from './classification.js';
export { type ClassifyOptions, classify, clearClassifyCache, type Dialect } from './classify.js';
export { isTextualMysqlType, isTextualPgType } from './column-types.js';
export { ibanValid, luhnValid } from './detectors.js';
export { type Decision, type EngineRole, POLICY_DENIED, PolicyEngine, PolicySession } from './engine.js';
export { type MaskColumn, MaskingRules, type ValueMasker } from './masking.js';
export { loadPolicyParsers, policyParsersLoaded } from './parsers.js';
