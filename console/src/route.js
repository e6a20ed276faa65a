// Views are chosen by the URL's fragment (#/profiles/p1): the page is one file whatever the view, at / and at
// /console/ alike, so the gateway needs no route per view.
import { useEffect, useState } from 'preact/hooks';

const parts = () => window.location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);

/** The current view's path, e.g. ['profiles', 'p1']; re-rendered when it changes. */
export function useRoute() {
  const [route, setRoute] = useState(parts);
  useEffect(() => {
    const changed = () => setRoute(parts());
    window.addEventListener('hashchange', changed);
    return () => window.removeEventListener('hashchange', changed);
  }, []);
  return route;
}

/** The link to a view: href('profiles', id) → '#/profiles/<id>'. */
export const href = (...path) => `#/${path.map(encodeURIComponent).join('/')}`;

export const go = (...path) => { window.location.hash = href(...path); };
