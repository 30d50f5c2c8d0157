import { useEffect, useRef } from 'react';
import type { RgbaImage } from '../../engine';

interface Props {
  image: RgbaImage;
  /** The accessible name; the canvas is announced as an image. */
  label: string;
  className?: string;
}

/** Draws an RGBA8 image 1:1 into a canvas; CSS scales it (pixelated, so no detail is invented). */
export function RgbaCanvas({ image, label, className }: Props) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const element = canvas.current;
    if (!element) return;
    if (element.width !== image.width) element.width = image.width;
    if (element.height !== image.height) element.height = image.height;
    const data = new ImageData(new Uint8ClampedArray(image.data), image.width, image.height);
    element.getContext('2d')?.putImageData(data, 0, 0);
  }, [image]);
  return <canvas ref={canvas} role="img" aria-label={label} className={className} width={image.width} height={image.height} />;
}
