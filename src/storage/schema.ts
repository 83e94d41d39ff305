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
  /** `bridge`: another cloud's usage bridge (see docs/bridge.md). */
  kind: Generated<"provider" | "bridge">;
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

export interface UsageRecordTable {
  seq: Generated<number>;
  source_seq: number;
  record_id: string;
  subscription_seq: number;
  meter_seq: number;
  q_units: number;
  q_frac: number;
  usage_start: number;
  usage_end: number;
  reported_at: number;
  resource_uri: string;
  location: string | null;
  tags: string | null;
  additional_info: string | null;
  import_id: string | null;
}

export interface UsageClockTable {
  name: "sealed_until" | "rolled_up_until" | "answered_from" | "first_live_at";
  value: number | null;
}

export interface UsageInstanceTable {
  seq: Generated<number>;
  subscription_seq: number;
  instance_hash: string;
  resource_uri: string;
  location: string | null;
  tags: string | null;
  additional_info: string | null;
}

interface UsageAggregateColumns {
  subscription_seq: number;
  meter_seq: number;
  instance_seq: number;
  q_units: number;
  q_frac: number;
  records: number;
}

export interface UsageHourlyTable extends UsageAggregateColumns {
  usage_hour: number;
  reported_hour: number;
}

export interface UsageDailyTable extends UsageAggregateColumns {
  usage_day: number;
  reported_day: number;
}

export interface UsageReportedBoundsTable {
  reported_hour: number;
  min_usage_hour: number;
  max_usage_hour: number;
}

export interface UsageImportTable {
  id: string;
  source_seq: number;
  created_at: number;
  principal_id: string;
  inserted: number;
  duplicates: number;
  min_reported_at: number | null;
  max_reported_at: number | null;
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

export interface OfferTable {
  id: string;
  display_name: string;
  provider_id: string;
  created_at: number;
  updated_at: number;
}

export interface RegistrationTable {
  object_id: string;
  singleton: Generated<number>;
  name: string;
  name_key: string;
  subscription_id: string;
  resource_group: string;
  cloud_id: string;
  billing_model: "PayAsYouUse" | "Capacity" | "Development";
  default_subscription_id: string;
  usage_reporting_enabled: 0 | 1;
  upstream_type: "Tally" | "Https";
  upstream_url: string | null;
  /** Sealed (src/bridge/secrets.ts); never returned, never logged. */
  upstream_credential: string | null;
  tags: string | null;
  etag: string;
  created_at: number;
  updated_at: number;
}

export interface PriceSheetTable {
  id: string;
  offer_id: string;
  currency: string;
  effective_from: number;
  /** JSON array of offer terms, decimals as strings. */
  terms: string;
  created_at: number;
  created_by: string;
}

export interface PriceSheetMeterTable {
  price_sheet_id: string;
  meter_key: string;
  /** JSON object: tier start quantity → unit price, both decimal strings. */
  rates: string;
  included_quantity: string;
}

export interface MarkupTable {
  id: string;
  scope: string;
  percent: string;
  description: string | null;
  created_at: number;
  updated_at: number;
}

export interface RegistrationCustomerSubscriptionTable {
  registration_id: string;
  subscription_key: string;
  subscription_id: string;
  tenant_id: string;
  created_at: number;
  updated_at: number;
}

export interface BridgeStateTable {
  registration_id: string;
  forwarded_until: number;
  window_start: number | null;
  failures: Generated<number>;
  next_attempt_at: number | null;
  last_attempt_at: number | null;
  last_success_at: number | null;
  last_error_category: string | null;
  last_error_message: string | null;
  last_error_at: number | null;
}

export interface BridgeBatchTable {
  registration_id: string;
  window_start: number;
  part: number;
  idempotency_key: string;
  upstream_subscription_id: string;
  records: number;
  body: string | null;
  created_at: number;
  attempts: Generated<number>;
  delivered_at: number | null;
}

export interface JobLeaseTable {
  name: string;
  owner: string;
  until: number;
}

export interface BillingAccountTable {
  id: string;
  kind: "customer" | "reseller" | "enrollment";
  display_name: string;
  currency: string;
  tax_rate: string | null;
  issuer_name: string;
  /** JSON object, or null. */
  address: string | null;
  directory_id: string | null;
  provider_id: string | null;
  /** `YYYY-MM`: the first billing period. */
  first_period: string;
  created_at: number;
  updated_at: number;
}

export interface BillingDepartmentTable {
  enrollment_id: string;
  id: string;
  display_name: string;
  cost_center: string | null;
  created_at: number;
  updated_at: number;
}

export interface BillingEnrollmentAccountTable {
  enrollment_id: string;
  id: string;
  department_id: string;
  display_name: string;
  cost_center: string | null;
  created_at: number;
  updated_at: number;
}

export interface BillingAssignmentTable {
  subscription_id: string;
  billing_account_id: string;
  department_id: string | null;
  account_id: string | null;
  created_at: number;
}

export interface InvoiceTable {
  id: string;
  billing_account_id: string;
  period: string;
  period_start: number;
  period_end: number;
  status: "draft" | "finalized";
  number: string | null;
  issuer_name: string;
  currency: string;
  tax_rate: string | null;
  subtotal: string;
  tax: string;
  total: string;
  complete: number;
  /** JSON array of the usage no price applied to. */
  unpriced: string;
  created_at: number;
  finalized_at: number | null;
}

export interface InvoiceLineTable {
  invoice_id: string;
  line_no: number;
  kind: string;
  /** What the line charges for, across invoices: `usage` or an offer term's kind (src/domain/billing/invoice.ts). */
  charge: string;
  description: string;
  subscription_id: string | null;
  subscription_name: string | null;
  offer_id: string | null;
  meter_id: string | null;
  price_sheet_id: string | null;
  tier: string | null;
  quantity: string | null;
  list_unit_price: string | null;
  unit_price: string | null;
  amount: string;
  usage_period: string | null;
  usage_start: number | null;
  usage_end: number | null;
  department_id: string | null;
  account_id: string | null;
  cost_center: string | null;
}

export interface InvoiceCounterTable {
  issuer_name: string;
  last_number: number;
}

export interface DB {
  billing_accounts: BillingAccountTable;
  billing_departments: BillingDepartmentTable;
  billing_enrollment_accounts: BillingEnrollmentAccountTable;
  billing_assignments: BillingAssignmentTable;
  invoices: InvoiceTable;
  invoice_lines: InvoiceLineTable;
  invoice_counters: InvoiceCounterTable;
  registrations: RegistrationTable;
  registration_customer_subscriptions: RegistrationCustomerSubscriptionTable;
  bridge_state: BridgeStateTable;
  bridge_batches: BridgeBatchTable;
  job_leases: JobLeaseTable;
  usage_records: UsageRecordTable;
  usage_clock: UsageClockTable;
  usage_instances: UsageInstanceTable;
  usage_hourly: UsageHourlyTable;
  usage_daily: UsageDailyTable;
  usage_reported_bounds: UsageReportedBoundsTable;
  usage_imports: UsageImportTable;
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
  offers: OfferTable;
  price_sheets: PriceSheetTable;
  price_sheet_meters: PriceSheetMeterTable;
  markups: MarkupTable;
}
