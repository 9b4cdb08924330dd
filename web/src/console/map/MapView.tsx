// A Leaflet map inside a Preact component: created once on mount, handed to ``onReady``.
import { useEffect, useRef, useState } from "preact/hooks";
import { createMap, type MapHandle } from "../../common/map";
import { ErrorMessage } from "../../common/ui";

export function MapView(props: {
  label: string;
  onReady: (m: MapHandle) => void;
  class?: string;
  testid?: string;
}) {
  const el = useRef<HTMLDivElement>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    let handle: MapHandle | null = null;
    let gone = false;
    createMap(el.current!)
      .then((m) => {
        if (gone) m.destroy();
        else {
          handle = m;
          props.onReady(m);
        }
      })
      .catch(setError);
    return () => {
      gone = true;
      handle?.destroy();
    };
  }, []);
  return (
    <div class="map-wrap">
      <ErrorMessage error={error} />
      <div
        ref={el}
        class={props.class ?? "map"}
        role="region"
        aria-label={props.label}
        data-testid={props.testid}
      />
    </div>
  );
}
