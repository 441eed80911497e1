import { CreateCollections1766000000000 } from './1766000000000-create-collections.js';
import { IndexRowIds1766100000000 } from './1766100000000-index-row-ids.js';

/** The collections read model's migrations, in order. */
export const COLLECTIONS_MIGRATIONS = [CreateCollections1766000000000, IndexRowIds1766100000000];
