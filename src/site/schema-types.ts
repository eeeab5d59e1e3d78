/** Field data types the site knows (issue 2, section 3). */
export const DATA_TYPES = [
  'text', 'number', 'float', 'checkbox', 'date', 'date_time', 'duration', 'entity', 'multi_entity',
  'list', 'status_list', 'url', 'serializable', 'tag_list', 'uuid', 'image', 'password',
] as const;
export type DataType = (typeof DATA_TYPES)[number];

/** How a field is written in the built-in schema and in `--schema` files. */
export type FieldSpec =
  | DataType
  | {
      type: DataType;
      /** Entity types a link may point to; empty or absent means any type. */
      types?: readonly string[];
      /** Allowed values of list and status_list fields. */
      values?: readonly string[];
      default?: unknown;
      /** `Type.field` this multi_entity field mirrors (a back-reference). */
      reverse?: string;
      name?: string;
      description?: string;
      editable?: boolean;
      mandatory?: boolean;
    };

export interface EntitySpec {
  /** Field whose value is the `name` of links to this type. */
  displayField: string;
  displayName?: string;
  /** Has a `project` link field. */
  project?: boolean;
  /** Without the usual created_by/updated_* bookkeeping fields (EventLogEntry). */
  plain?: boolean;
  fields: Readonly<Record<string, FieldSpec>>;
}
