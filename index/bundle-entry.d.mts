/** The repository's root directory. */
export declare const root: string;
/** Bundles `entry` with the modules it imports from `dirs`; the bundle's path, or null. */
export declare function bundle(entry: string, dirs: string[]): Promise<string | null>;
/** Bundles `entry`, all of whose modules live in `dir`; the bundle's path, or null. */
export declare function bundleSync(entry: string, dir: string): string | null;
