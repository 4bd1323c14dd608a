/**
 * Typings for the AWS stand-ins the integration tests start (neither package ships any).
 * Only what test/helpers/local-aws.ts uses is declared.
 */

declare module 's3rver' {
  import type { AddressInfo } from 'node:net';

  interface S3rverOptions {
    address?: string;
    /** 0 picks a free port; `run()` resolves with the one bound. */
    port?: number;
    silent?: boolean;
    /** Folder that holds buckets and objects (`<dir>/<bucket>/<key>._S3rver_object`). */
    directory?: string;
    resetOnClose?: boolean;
    allowMismatchedSignatures?: boolean;
    vhostBuckets?: boolean;
    configureBuckets?: { name: string; configs?: (string | Buffer)[] }[];
  }

  /** An object as s3rver's store receives it (content is a Buffer or the request stream). */
  interface S3rverObject {
    bucket: string;
    key: string;
    content: Buffer | NodeJS.ReadableStream;
    metadata: Record<string, string>;
  }

  /** s3rver's FilesystemStore (lib/stores/filesystem.js), the parts the helper patches. */
  interface S3rverFilesystemStore {
    getResourcePath(bucket: string, key: string | undefined, resource: string): string;
    putMetadata(
      bucket: string,
      key: string,
      metadata: Record<string, string>,
      md5?: string,
    ): Promise<void>;
    putObject(object: S3rverObject): Promise<{ size: number; md5: string }>;
    listObjects(bucket: string, options: S3rverListOptions): Promise<S3rverListing>;
  }

  interface S3rverListOptions {
    delimiter?: string;
    startAfter?: string;
    prefix?: string;
    maxKeys?: number;
  }

  interface S3rverListing {
    objects: { key: string }[];
    commonPrefixes: string[];
    isTruncated: boolean;
  }

  class S3rver {
    constructor(options?: S3rverOptions);
    store: S3rverFilesystemStore;
    run(): Promise<AddressInfo>;
    close(): Promise<void>;
    reset(): void;
  }

  export = S3rver;
}

declare module 'dynalite' {
  import type { Server } from 'node:http';

  interface DynaliteOptions {
    /** LevelDB folder; in memory when omitted. */
    path?: string;
    createTableMs?: number;
    deleteTableMs?: number;
    updateTableMs?: number;
    maxItemSizeKb?: number;
    ssl?: boolean;
    verbose?: boolean;
    debug?: boolean;
  }

  function dynalite(options?: DynaliteOptions): Server;

  export = dynalite;
}
