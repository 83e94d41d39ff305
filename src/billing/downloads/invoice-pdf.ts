import PDFDocument from "pdfkit";
import type { BillingAddress, InvoiceLine, InvoiceView } from "../../domain/billing/types.js";
import type { BillingDocument } from "../ports.js";
import { isoDate, lastDay } from "./document.js";

const MARGIN = 50;
const PAGE_BOTTOM = 842 - 60; // A4 height in points, less the footer
const FONT = "Helvetica";
const BOLD = "Helvetica-Bold";

/** Table columns (x, width); money columns are left out when the caller may not see charges. */
const COLS = {
  description: { x: MARGIN, w: 245 },
  quantity: { x: 300, w: 80 },
  unit: { x: 385, w: 55 },
  unitPrice: { x: 440, w: 55 },
  amount: { x: 495, w: 50 },
};

/** The standard PDF fonts speak WinAnsi only: keep names readable rather than dropping characters. */
const ascii = (s: string) => s.replace(/[–—]/g, "-").replace(/[‘’]/g, "'").replace(/[“”]/g, '"');

function addressLines(a: BillingAddress | null): string[] {
  if (!a) return [];
  const cityLine = [a.postalCode, a.city].filter(Boolean).join(" ");
  return [a.line1, a.line2, [cityLine, a.region].filter(Boolean).join(", "), a.country].filter(
    (s): s is string => s !== undefined && s !== "",
  );
}

interface Group {
  title: string;
  meters: { title: string; lines: InvoiceLine[] }[];
}

/** Lines by subscription, then meter, in the invoice's order; account-wide lines last. */
function groups(lines: readonly InvoiceLine[]): Group[] {
  const out: Group[] = [];
  const bySub = new Map<string, Group>();
  for (const l of lines) {
    const subKey = l.subscriptionId ?? "";
    let g = bySub.get(subKey);
    if (!g) {
      g = {
        title:
          l.subscriptionId === null
            ? "Account"
            : `Subscription ${l.subscriptionName ?? ""} (${l.subscriptionId})`.replace("  ", " "),
        meters: [],
      };
      bySub.set(subKey, g);
      out.push(g);
    }
    const meterTitle =
      l.meterId === null
        ? "Offer terms and adjustments"
        : `${l.meterCategory ?? ""} - ${l.meterName ?? l.meterId}`;
    let m = g.meters.find((x) => x.title === meterTitle);
    if (!m) {
      m = { title: meterTitle, lines: [] };
      g.meters.push(m);
    }
    m.lines.push(l);
  }
  const account = bySub.get("");
  return account ? [...out.filter((g) => g !== account), account] : out;
}

function lineText(l: InvoiceLine): string {
  const parts = [l.description];
  if (l.tier !== null) parts.push(l.tier === "included" ? "(included quantity)" : `(tier from ${l.tier})`);
  if (l.kind === "priorPeriodUsage")
    parts.push(
      `Prior period ${l.usagePeriod ?? ""}: usage ${isoDate(l.usageStart)} to ${l.usageEnd === null ? "" : lastDay(l.usageEnd)}`,
    );
  return ascii(parts.join(" "));
}

/**
 * The invoice as a PDF: issuer, account (name, address, id), number and status (a draft is marked
 * DRAFT on every page), period, lines grouped by subscription and meter (prior-period lines with
 * their usage dates), subtotal, tax and total; page numbers in the footer. Without the right to see
 * charges, the lines show quantities only and the document says so. Returns the PDF stream; the
 * caller pipes it out.
 */
export function invoicePdf(doc: BillingDocument<InvoiceView>, now: Date): PDFKit.PDFDocument {
  const inv = doc.document;
  const money = doc.chargesVisible;
  const draft = inv.status === "draft";
  const pdf = new PDFDocument({
    size: "A4",
    margin: MARGIN,
    bufferPages: true,
    info: {
      Title: `Invoice ${inv.number ?? inv.id}`,
      Author: ascii(inv.issuerName),
      Subject: `${doc.account.displayName} ${inv.period}`,
      CreationDate: now,
    },
  });
  let y = MARGIN;

  const text = (
    s: string,
    x: number,
    opts: PDFKit.Mixins.TextOptions & { font?: string; size?: number } = {},
  ) => {
    pdf.font(opts.font ?? FONT).fontSize(opts.size ?? 9);
    pdf.text(ascii(s), x, y, { lineBreak: false, ...opts });
  };
  const right = (s: string, col: { x: number; w: number }, font = FONT) =>
    text(s, col.x, { width: col.w, align: "right", font });

  const tableHeader = () => {
    text("Description", COLS.description.x, { font: BOLD });
    right("Quantity", COLS.quantity, BOLD);
    text("Unit", COLS.unit.x + 5, { font: BOLD });
    if (money) {
      right("Unit price", COLS.unitPrice, BOLD);
      right(`Amount`, COLS.amount, BOLD);
    }
    y += 12;
    pdf.moveTo(MARGIN, y).lineTo(545, y).lineWidth(0.5).stroke();
    y += 4;
  };
  const ensure = (h: number) => {
    if (y + h <= PAGE_BOTTOM) return;
    pdf.addPage();
    y = MARGIN;
    tableHeader();
  };

  // Issuer and document.
  text(inv.issuerName, MARGIN, { font: BOLD, size: 16 });
  text(draft ? "DRAFT INVOICE" : "INVOICE", 345, { font: BOLD, size: 16, width: 200, align: "right" });
  y += 28;
  const facts: [string, string][] = [
    ["Invoice number", inv.number ?? "not assigned (draft)"],
    ["Invoice id", inv.id],
    ["Status", draft ? "DRAFT" : "Finalized"],
    ["Billing period", `${inv.period} (${isoDate(inv.periodStart)} to ${lastDay(inv.periodEnd)})`],
    ["Date", isoDate(inv.finalizedAt ?? inv.createdAt)],
    ["Currency", inv.currency],
  ];
  const top = y;
  for (const [k, v] of facts) {
    text(`${k}:`, 320, { font: BOLD });
    text(v, 410, { width: 135 });
    y += 12;
  }
  const factsEnd = y;
  y = top;
  text("Bill to", MARGIN, { font: BOLD });
  y += 12;
  for (const s of [
    doc.account.displayName,
    ...addressLines(doc.account.address),
    `Account ID: ${doc.account.id}`,
  ]) {
    text(s, MARGIN, { width: 260 });
    y += 12;
  }
  y = Math.max(y, factsEnd) + 16;
  if (!money) {
    text("Charges are not shown: your access to this billing account covers usage quantities only.", MARGIN, {
      font: BOLD,
    });
    y += 16;
  }
  if (!inv.complete) {
    text("Some usage had no price in force and is not included in the amounts.", MARGIN, { font: BOLD });
    y += 16;
  }

  tableHeader();
  for (const g of groups(inv.lines)) {
    ensure(40);
    y += 4;
    text(g.title, MARGIN, { font: BOLD, size: 10 });
    y += 14;
    for (const m of g.meters) {
      ensure(26);
      text(m.title, MARGIN + 8, { font: BOLD });
      y += 12;
      for (const l of m.lines) {
        const desc = lineText(l);
        pdf.font(FONT).fontSize(9);
        const h = Math.max(12, pdf.heightOfString(desc, { width: COLS.description.w - 16 }) + 2);
        ensure(h);
        pdf.text(desc, MARGIN + 16, y, { width: COLS.description.w - 16 });
        right(l.quantity ?? "", COLS.quantity);
        text(l.unit ?? "", COLS.unit.x + 5, { width: COLS.unit.w - 5, ellipsis: true });
        if (money) {
          right(l.unitPrice ?? "", COLS.unitPrice);
          right(l.amount ?? "", COLS.amount);
        }
        y += h;
      }
    }
  }

  if (money) {
    ensure(60);
    y += 6;
    pdf.moveTo(345, y).lineTo(545, y).lineWidth(0.5).stroke();
    y += 6;
    const totals: [string, string][] = [
      ["Subtotal", inv.subtotal ?? ""],
      [inv.taxRate === null ? "Tax" : `Tax (${inv.taxRate}%)`, inv.tax ?? ""],
      [`Total ${inv.currency}`, inv.total ?? ""],
    ];
    for (const [k, v] of totals) {
      text(k, 345, { font: k.startsWith("Total") ? BOLD : FONT });
      right(v, { x: 445, w: 100 }, k.startsWith("Total") ? BOLD : FONT);
      y += 13;
    }
  }

  // Footer and draft marking on every page, once the page count is known.
  const range = pdf.bufferedPageRange();
  for (let i = range.start; i < range.start + range.count; i++) {
    pdf.switchToPage(i);
    // The footer sits in the bottom margin, where text would otherwise start a new page.
    const bottom = pdf.page.margins.bottom;
    pdf.page.margins.bottom = 0;
    pdf.font(FONT).fontSize(8);
    const footer = `${ascii(inv.issuerName)} - Invoice ${inv.number ?? inv.id}${draft ? " - DRAFT" : ""} - Page ${i + 1} of ${range.count}`;
    pdf.text(footer, MARGIN, 842 - 40, { width: 495, align: "center", lineBreak: false });
    if (draft) {
      pdf.save();
      pdf.rotate(-35, { origin: [297, 421] });
      pdf.font(BOLD).fontSize(110).fillColor("#e0e0e0", 0.5);
      pdf.text("DRAFT", 110, 370, { lineBreak: false });
      pdf.restore();
      pdf.fillColor("black", 1);
    }
    pdf.page.margins.bottom = bottom;
  }
  pdf.end();
  return pdf;
}
