import type { Generated } from "kysely";

/**
 * Kysely table types. Times are UTC epoch milliseconds (`number`); `seq` columns are internal
 * integer keys used by the large usage tables instead of the public GUIDs.
 */
export interface MetaTable {
  key: string;
  value: string;
}

export interface MeterTable {
  seq: Generated<number>;
  key: string;
  id: string;
  name: string;
  unit: string;
  category: string;
  sub_category: string | null;
  status: "current" | "deprecated";
  origin: "catalogue" | "custom";
  created_at: number;
  updated_at: number;
}

export interface DirectoryTable {
  id: string;
  display_name: string;
  created_at: number;
  updated_at: number;
}

export interface ProviderTable {
  id: string;
  display_name: string;
  parent_id: string | null;
  subscription_id: string;
  created_at: number;
  updated_at: number;
  deleted_at: number | null;
}

export interface SubscriptionTable {
  seq: Generated<number>;
  id: string;
  display_name: string;
  directory_id: string;
  provider_id: string;
  offer_id: string;
  state: "Active" | "Disabled" | "Deleted";
  created_at: number;
  updated_at: number;
  deleted_at: number | null;
}

export interface SourceTable {
  seq: Generated<number>;
  id: string;
  name: string;
  created_at: number;
  updated_at: number;
  disabled_at: number | null;
}

export interface SourceKeyTable {
  id: string;
  source_id: string;
  key_hash: string;
  prefix: string;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
}

export interface PrincipalTable {
  id: string;
  kind: "operator" | "user" | "service";
  display_name: string;
  directory_id: string | null;
  created_at: number;
}

export interface AuditLogTable {
  seq: Generated<number>;
  at: number;
  principal_id: string;
  action: string;
  target: string;
  request_id: string;
  details: string | null;
}

export interface RoleAssignmentTable {
  id: string;
  principal_id: string;
  role: string;
  scope: string;
  created_at: number;
  created_by: string;
}

export interface EnrollmentPolicyTable {
  enrollment_id: string;
  da_view_charges: 0 | 1;
  ao_view_charges: 0 | 1;
  updated_at: number;
  updated_by: string;
}

export interface DB {
  audit_log: AuditLogTable;
  meta: MetaTable;
  meters: MeterTable;
  directories: DirectoryTable;
  providers: ProviderTable;
  subscriptions: SubscriptionTable;
  sources: SourceTable;
  source_keys: SourceKeyTable;
  principals: PrincipalTable;
  role_assignments: RoleAssignmentTable;
  enrollment_policies: EnrollmentPolicyTable;
}
